#!/bin/sh
# The worker: runs one dataset of one job, the same way on EC2, in a Batch container and locally.
#
#   run-job.sh <job-file>                 run the job (`-` reads the job from stdin)
#   run-job.sh --stage in|out <job-file>  Batch: stage in, or stage out and clean up (see below)
#   run-job.sh --stage run <job-folder>   Batch: run the COMMAND staged in <job-folder>
#
# On AWS Batch one job runs as three containers around a job folder on the analysis EFS,
# `$NCAAS_EFS_ROOT/jobs/$NCAAS_JOB_DIR` (lib/launch/batch-stages.ts): `in` (the staging image: sh,
# coreutils, awk and the AWS CLI) stages the dataset and config there and writes the analysis's
# environment; `run` (the analysis image: only a POSIX sh is assumed, no AWS tooling) runs COMMAND
# with stdout/stderr to the container log and to files; `out` (the staging image) uploads results,
# logs, the status and the final report, then removes the job folder. Each stage is this script.
#
# The job file is lib/job/worker-job.ts `encodeWorkerJob`: one `NCAAS_JOB_<FIELD>=<base64>` line per
# field. It is data: each value is decoded with `base64 -d` into a variable; the file is never
# sourced or eval'd, and no user-controlled string (keys, job id) is ever part of shell text: the
# job's COMMAND arrives prepared (lib/blueprint/command-template.ts), its placeholders replaced by
# references to the NCAAS_ARG_* variables exported here, so the values are only ever expanded.
#
# Needs a POSIX sh, coreutils (base64, date, tail, ...), awk, grep and the AWS CLI v1 or v2.
# Optional: bash (runs COMMAND, as NeuroCAAS did; sh otherwise), timeout (stops the analysis
# before the hard deadline so the worker can still report), curl (instance id from IMDSv2).
# See worker/README.md for the contract; the environment variables it reads are listed there.
set -eu

# ---------------------------------------------------------------------------------------------
# Small tools, defined first because every later step (even a failing one) uses them.
# ---------------------------------------------------------------------------------------------

# JSON string escaping (an awk function). Runs under LC_ALL=C so awk sees bytes; valid UTF-8
# sequences pass through, any other byte becomes U+FFFD, so the result is valid JSON (and valid
# UTF-8) whatever an analysis printed.
# shellcheck disable=SC2016 # awk programs: the $ are awk's, not the shell's
JSON_ESCAPE_FN='
function json_escape(line,    len, s, i, ch, c, need, ok, lo, hi, c1, k, ck) {
  len = length(line); s = ""; i = 1
  while (i <= len) {
    ch = substr(line, i, 1); c = ord[ch] + 0
    if (c < 128) {
      if (ch == "\"") s = s "\\\""
      else if (ch == "\\") s = s "\\\\"
      else if (c == 9) s = s "\\t"
      else if (c == 13) s = s "\\r"
      else if (c < 32 || c == 127) s = s sprintf("\\u%04x", c)
      else s = s ch
      i++
      continue
    }
    need = 0
    if (c >= 194 && c <= 223) need = 1
    else if (c >= 224 && c <= 239) need = 2
    else if (c >= 240 && c <= 244) need = 3
    ok = (need > 0 && i + need <= len)
    if (ok) {
      lo = 128; hi = 191
      if (c == 224) lo = 160; else if (c == 237) hi = 159; else if (c == 240) lo = 144; else if (c == 244) hi = 143
      c1 = ord[substr(line, i + 1, 1)] + 0
      if (c1 < lo || c1 > hi) ok = 0
      for (k = 2; ok && k <= need; k++) {
        ck = ord[substr(line, i + k, 1)] + 0
        if (ck < 128 || ck > 191) ok = 0
      }
    }
    if (ok) { s = s substr(line, i, need + 1); i += need + 1 }
    else { s = s "\\ufffd"; i++ }
  }
  return s
}
BEGIN { for (b = 1; b < 256; b++) ord[sprintf("%c", b)] = b }
'
# Reads bytes on stdin, prints one quoted JSON string (lines joined by \n).
JSON_STRING_AWK=$JSON_ESCAPE_FN'
{ out = (NR > 1) ? out "\\n" json_escape($0) : json_escape($0) }
END { printf "\"%s\"", out }
'
# Reads lines on stdin, prints a JSON object of them keyed by line number from `first` (NeuroCAAS's
# stdout/stderr shape in the status file, each line with its newline).
JSON_LINES_AWK=$JSON_ESCAPE_FN'
{ printf "%s\"%d\": \"%s\\n\"", (NR > 1 ? ", " : ""), first + NR - 1, json_escape(substr($0, 1, 2000)) }
BEGIN { printf "{" }
END { printf "}" }
'

# Top-level members of JSON objects (the status file an analysis may rewrite with NeuroCAAS's tools),
# read as raw text: no JSON tool is assumed on the image. Files are named by variables (getline), so a
# missing or empty one is simply absent.
#   awk -v mode=get -v key=K -v file=F: prints member K of F decoded (a string as is, a list of
#     strings joined by "; ", anything else raw); exits 1 if F is not a JSON object.
#   awk -v mode=merge -v ours=O -v theirs=T -v base=B -v keep="k1 k2": prints O, except that a key
#     the analysis changed (its value in T differs from B, what the worker uploaded last) keeps T's
#     value unless it is in `keep`; then T's keys that O lacks. Exits 1 if O is not an object.
JSON_MEMBERS_AWK='
function slurp(path,    line, text) {
  text = ""
  if (path == "") return ""
  while ((getline line < path) > 0) text = text line "\n"
  close(path)
  return text
}
function parse(text, f,    i, n, c, depth, instr, esc, key, start, value) {
  n = length(text); i = 1; count[f] = 0
  while (i <= n && substr(text, i, 1) ~ /[ \t\r\n]/) i++
  if (substr(text, i, 1) != "{") return 0
  i++
  while (1) {
    while (i <= n && substr(text, i, 1) ~ /[ \t\r\n,]/) i++
    if (i > n) return 0
    if (substr(text, i, 1) == "}") return 1
    if (substr(text, i, 1) != "\"") return 0
    start = i; i++; esc = 0
    while (i <= n) { c = substr(text, i, 1); if (esc) esc = 0; else if (c == "\\") esc = 1; else if (c == "\"") break; i++ }
    if (i > n) return 0
    key = substr(text, start, i - start + 1); i++
    while (i <= n && substr(text, i, 1) ~ /[ \t\r\n]/) i++
    if (substr(text, i, 1) != ":") return 0
    i++
    while (i <= n && substr(text, i, 1) ~ /[ \t\r\n]/) i++
    start = i; depth = 0; instr = 0; esc = 0
    while (i <= n) {
      c = substr(text, i, 1)
      if (instr) { if (esc) esc = 0; else if (c == "\\") esc = 1; else if (c == "\"") instr = 0 }
      else if (c == "\"") instr = 1
      else if (c == "{" || c == "[") depth++
      else if (c == "}" || c == "]") { if (depth == 0) break; depth-- }
      else if (c == "," && depth == 0) break
      i++
    }
    if (i > n) return 0
    value = substr(text, start, i - start)
    sub(/[ \t\r\n]+$/, "", value)
    if (value == "") return 0
    if (!((f, key) in vals)) keys[f, ++count[f]] = key
    vals[f, key] = value
  }
}
function decode(s,    out, i, n, c, d) {
  out = ""; n = length(s)
  for (i = 2; i < n; i++) {
    c = substr(s, i, 1)
    if (c != "\\") { out = out c; continue }
    i++; d = substr(s, i, 1)
    if (d == "n" || d == "t") out = out " "; else if (d == "r") out = out ""
    else if (d == "u") { out = out "?"; i += 4 } else out = out d
  }
  return out
}
function strings_of(v,    out, i, n, c, start, esc) {
  if (substr(v, 1, 1) == "\"") return decode(v)
  if (substr(v, 1, 1) != "[") return v
  out = ""; n = length(v)
  for (i = 2; i <= n; i++) {
    if (substr(v, i, 1) != "\"") continue
    start = i; i++; esc = 0
    while (i <= n) { c = substr(v, i, 1); if (esc) esc = 0; else if (c == "\\") esc = 1; else if (c == "\"") break; i++ }
    out = out (out == "" ? "" : "; ") decode(substr(v, start, i - start + 1))
  }
  return out
}
BEGIN {
  if (mode == "get") {
    if (!parse(slurp(file), "f")) exit 1
    k = "\"" key "\""
    if (("f", k) in vals) print strings_of(vals["f", k])
    exit 0
  }
  if (!parse(slurp(ours), "o")) exit 1
  have_theirs = parse(slurp(theirs), "t")
  have_base = parse(slurp(base), "b")
  split(keep, kept, " ")
  for (p in kept) forced["\"" kept[p] "\""] = 1
  printf "{"
  sep = "\n"
  for (j = 1; j <= count["o"]; j++) {
    k = keys["o", j]; v = vals["o", k]
    if (have_theirs && !(k in forced) && (("t", k) in vals) && !(have_base && (("b", k) in vals) && vals["b", k] == vals["t", k])) v = vals["t", k]
    printf "%s  %s: %s", sep, k, v; sep = ",\n"
  }
  if (have_theirs) for (j = 1; j <= count["t"]; j++) {
    k = keys["t", j]
    if (!(("o", k) in vals)) { printf "%s  %s: %s", sep, k, vals["t", k]; sep = ",\n" }
  }
  printf "\n}\n"
}
'

stage=''
# batch-only: begin (dropped from EC2 user data: lib/launch/compact-script.ts)
# Batch stages (see the top). `run` is handled right here, before anything that needs more than sh.
if [ "${1-}" = --stage ]; then
  stage=${2-}
  case $stage in in | run | out) ;; *)
    printf 'usage: %s --stage in|run|out <job-file | job-folder>\n' "$0" >&2
    exit 2
    ;;
  esac
  shift 2
fi

# sh_quote <value>: the value as one single-quoted shell word, every byte kept (newlines included).
# Stage `in` writes the analysis environment with it; stage `run` reads that file with `.`, so user
# values (keys, job id) are only ever data inside quotes, never shell text. Pure sh: no sed or awk.
sh_quote() {
  rest=$1
  quoted=''
  while :; do
    case $rest in
      *"'"*)
        quoted="$quoted${rest%%"'"*}'\\''"
        rest=${rest#*"'"}
        ;;
      *)
        quoted="$quoted$rest"
        break
        ;;
    esac
  done
  printf "'%s'" "$quoted"
}

# Stage `run`, in the analysis image: no AWS calls, no awk, no base64; only sh and, when the image
# has it, tee (stdout/stderr go to the container's log, Batch's CloudWatch stream, and to files).
run_stage() {
  dir=$1
  case $dir in /*) ;; *) printf 'ncaas run stage: %s is not an absolute path\n' "$dir" >&2 && exit 2 ;; esac
  if [ ! -f "$dir/stage-in.ok" ] || [ ! -f "$dir/analysis.env" ]; then
    printf 'ncaas run stage: %s was not prepared by the stage-in job\n' "$dir" >&2
    exit 3
  fi
  ncaas_command='' ncaas_working_directory=''
  # Written by stage `in` with sh_quote: assignments of quoted values and `export` lines only.
  # shellcheck disable=SC1091
  . "$dir/analysis.env"
  analysis_shell=$(command -v bash 2>/dev/null || command -v sh)
  : >"$dir/analysis.started"
  cd "$dir/run"
  # WORKING_DIRECTORY, as NeuroCAAS ran COMMAND in SSM's working directory; the job folder's run/
  # when the image has no such folder (said in the analysis's stderr).
  if [ -n "$ncaas_working_directory" ]; then
    case $ncaas_working_directory in "~" | "~/"*) ncaas_working_directory=${HOME:-/root}${ncaas_working_directory#"~"} ;; esac
    cd "$ncaas_working_directory" 2>/dev/null ||
      printf 'ncaas: WORKING_DIRECTORY %s does not exist in this image: COMMAND runs in %s\n' \
        "$ncaas_working_directory" "$dir/run" >>"$dir/logs/stderr.txt"
  fi
  # The shutdown/poweroff/sudo shims stage `in` installed: a NeuroCAAS `cleanup` only records a request.
  PATH="$dir/bin:$PATH"
  export PATH
  printf 'ncaas: running the analysis (COMMAND as run: %s)\n' "$ncaas_command" >&2
  if command -v tee >/dev/null 2>&1; then
    # fd 4 carries the analysis's stdout to one tee, its stderr goes through the pipe to the other.
    {
      {
        "$analysis_shell" -c "$ncaas_command" ncaas </dev/null 2>&1 1>&4 4>&- && rc=0 || rc=$?
        printf '%s\n' "$rc" >"$dir/exit_code.part"
      } | tee -a "$dir/logs/stderr.txt" >&2 4>&-
    } 4>&1 | tee -a "$dir/logs/stdout.txt"
    IFS= read -r rc <"$dir/exit_code.part" || rc=1
  else
    "$analysis_shell" -c "$ncaas_command" ncaas </dev/null >>"$dir/logs/stdout.txt" \
      2>>"$dir/logs/stderr.txt" && rc=0 || rc=$?
  fi
  # Read by stage `out`: the exit code decides SUCCESS or FAILED, as on EC2.
  printf '%s\n' "$rc" >"$dir/exit_code"
  printf 'ncaas: the analysis exited with status %s\n' "$rc" >&2
  exit "$rc"
}

if [ "$stage" = run ]; then
  if [ "$#" -ne 1 ]; then
    printf 'usage: %s --stage run <job-folder>\n' "$0" >&2
    exit 2
  fi
  run_stage "$1"
fi
# batch-only: end

if [ "$#" -ne 1 ]; then
  printf 'usage: %s <job-file>\n' "$0" >&2
  exit 2
fi
job_file=$1

# Stages `in` and `out` work in the job folder on the analysis EFS. Its name comes from the
# launcher (letters, digits, - and _ only), never from a user.
batch_job_dir=''
# batch-only: begin (dropped from EC2 user data: lib/launch/compact-script.ts)
if [ -n "$stage" ]; then
  case ${NCAAS_JOB_DIR-} in
    '' | *[!A-Za-z0-9_-]*)
      printf 'ncaas %s stage: NCAAS_JOB_DIR must be letters, digits, - and _\n' "$stage" >&2
      exit 2
      ;;
  esac
  batch_job_dir=${NCAAS_EFS_ROOT:-/mnt/efs}/jobs/$NCAAS_JOB_DIR
fi
# batch-only: end

worker_started=$(date +%s)
now() { date +%s; }
iso_utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || printf '%s' "$1"; }

# Until the scratch dir exists the worker log is stderr only (cloud-init-output.log on EC2).
worker_log=''
log() {
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) [+$(($(now) - worker_started))s] $*"
  printf '%s\n' "$line" >&2
  if [ -n "$worker_log" ]; then printf '%s\n' "$line" >>"$worker_log" || true; fi
}

json_string() { printf '%s' "$1" | LC_ALL=C awk "$JSON_STRING_AWK"; }
json_or_null() { if [ -n "$1" ]; then json_string "$1"; else printf 'null'; fi; }
# The control plane's part of `provenance` (JSON it wrote: lib/job/worker-job.ts), if it is an object.
provenance_json() { case $job_provenance in '{'*'}') printf '%s' "$job_provenance" ;; *) printf 'null' ;; esac; }
# The tail of a log as a JSON string; NUL bytes are dropped (awk implementations disagree on them).
json_tail() {
  if [ -f "$1" ]; then
    tail -n "$tail_lines" "$1" | tail -c "$tail_bytes" | tr -d '\000' | LC_ALL=C awk "$JSON_STRING_AWK"
  else
    printf '""'
  fi
}

# State the traps need; set before any trap can fire.
step='reading the job file'
finishing=0
reportable=0
analysis_pid=''
analysis_ran=0
monitor_pid=''
spot_watch_pid=''
created_work_dir=''
final_status=''
uploads_failed=0
# Where this worker runs, from the machine's own start-up (EC2 user data and the Batch job definition
# export NCAAS_LAUNCHER; the local runtime runs it without): it alone decides the deadline and the
# power-off, so no job data, however malformed, can keep an instance running. The job's launcher
# field is only reported in the status.
machine=${NCAAS_LAUNCHER:-local}
launcher=$machine
real_shutdown=$(command -v shutdown 2>/dev/null || true)
for candidate in /sbin/shutdown /usr/sbin/shutdown; do
  if [ -z "$real_shutdown" ] && [ -x "$candidate" ]; then real_shutdown=$candidate; fi
done

# ---------------------------------------------------------------------------------------------
# Power-off and deadline. Overridable so the local runtime and tests can replace them; on EC2 the
# defaults use the real `shutdown` (found before the analysis's PATH gets our shim).
# ---------------------------------------------------------------------------------------------

# arm_deadline <epoch>: (re)schedule the hard stop. Minutes are rounded up, at least one, so a late
# start still leaves a minute to report.
arm_deadline() {
  remaining=$(($1 - $(now)))
  minutes=$(((remaining + 59) / 60))
  if [ "$minutes" -lt 1 ]; then minutes=1; fi
  if [ -n "${NCAAS_ARM_DEADLINE_COMMAND+set}" ]; then
    if [ -z "$NCAAS_ARM_DEADLINE_COMMAND" ]; then return 0; fi
    sh -c "$NCAAS_ARM_DEADLINE_COMMAND" ncaas-arm-deadline "$minutes" "$1" ||
      log "WARNING: arming the deadline failed (NCAAS_ARM_DEADLINE_COMMAND)"
  elif [ "$machine" = ec2 ]; then
    if [ -n "$real_shutdown" ]; then
      "$real_shutdown" -h "+$minutes" >/dev/null 2>&1 || log "WARNING: shutdown -h +$minutes failed"
    else
      log "WARNING: no shutdown command: the hard deadline is not armed on this instance"
    fi
  fi
  # batch: the job definition's timeout; local: the launcher kills the process group.
}

# power_off <exit status>: the last thing the worker does, whatever happened.
power_off() {
  if [ -n "${NCAAS_POWEROFF_COMMAND+set}" ]; then
    if [ -n "$NCAAS_POWEROFF_COMMAND" ]; then
      sh -c "$NCAAS_POWEROFF_COMMAND" ncaas-poweroff "${final_status:-FAILED}" ||
        log "WARNING: NCAAS_POWEROFF_COMMAND failed"
    fi
  elif [ "$machine" = ec2 ]; then
    log "powering off"
    if [ -n "$real_shutdown" ]; then "$real_shutdown" -h now || log "WARNING: shutdown -h now failed"; fi
  fi
  exit "$1"
}

# Reading the job comes before arming only because the deadline is in the job; any failure here
# still powers the instance off.
die_unreported() {
  log "ERROR: $* (the job cannot be reported: powering off)"
  finishing=1
  power_off 1
}

# The safety net, armed before anything can fail: whatever stops the worker (a failed command under
# `set -e`, a signal) reports when the job is known well enough (`reportable`) and always powers off.
# shellcheck disable=SC2317 # on_exit and on_signal run from traps
on_exit() {
  # A command failed under `set -e`, or the shell is exiting for a reason nobody reported yet.
  if [ "$finishing" = 1 ]; then return 0; fi
  if [ "$reportable" = 1 ]; then
    fail "the worker stopped unexpectedly while $step (exit status $1)"
  else
    finishing=1
    log "ERROR: the worker stopped while $step (exit status $1)"
    power_off 1
  fi
}

# shellcheck disable=SC2317
on_signal() {
  if [ "$finishing" = 1 ]; then return 0; fi
  log "received SIG$1 while $step"
  if [ "$reportable" != 1 ]; then
    finishing=1
    power_off 1
  fi
  if [ -n "$analysis_pid" ]; then
    kill -TERM "$analysis_pid" 2>/dev/null || true
    wait "$analysis_pid" 2>/dev/null || true
    analysis_pid=''
  fi
  if [ "$(now)" -ge "$job_deadline" ]; then
    finish TIMED_OUT "the job reached its deadline ($(iso_utc "$job_deadline")) while $step"
  else
    finish FAILED "the worker was stopped (SIG$1) while $step"
  fi
}

trap 'on_exit "$?"' EXIT
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'on_signal HUP' HUP

# ---------------------------------------------------------------------------------------------
# 1. Read the job (data only).
# ---------------------------------------------------------------------------------------------
job_analysis='' job_region='' job_bucket='' job_group='' job_id='' job_dataset_index=''
job_dataset_key='' job_dataset_label='' job_config_key='' job_result_folder='' job_command=''
job_deadline='' job_duration_estimate='' job_efs_file_system='' job_efs_access_point=''
job_working_directory='' job_dataset_count=1 job_provenance='' job_report_token=''
cr=$(printf '\r')

read_job() {
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%"$cr"}
    case $line in
      '') continue ;;
      NCAAS_JOB_*=*) ;;
      *) die_unreported "the job file has a line that is not NCAAS_JOB_<FIELD>=<base64>" ;;
    esac
    name=${line%%=*}
    encoded=${line#*=}
    case $encoded in *[!A-Za-z0-9+/=]*) die_unreported "$name is not base64" ;; esac
    # The trailing x keeps trailing newlines of a value (command substitution would strip them).
    value=$(printf '%s' "$encoded" | base64 -d && printf x) || die_unreported "$name is not base64"
    value=${value%x}
    case $name in
      NCAAS_JOB_ANALYSIS) job_analysis=$value ;;
      NCAAS_JOB_REGION) job_region=$value ;;
      NCAAS_JOB_BUCKET) job_bucket=$value ;;
      NCAAS_JOB_GROUP) job_group=$value ;;
      NCAAS_JOB_JOB_ID) job_id=$value ;;
      NCAAS_JOB_DATASET_INDEX) job_dataset_index=$value ;;
      NCAAS_JOB_DATASET_KEY) job_dataset_key=$value ;;
      NCAAS_JOB_DATASET_LABEL) job_dataset_label=$value ;;
      NCAAS_JOB_CONFIG_KEY) job_config_key=$value ;;
      NCAAS_JOB_RESULT_FOLDER) job_result_folder=$value ;;
      NCAAS_JOB_COMMAND) job_command=$value ;;
      NCAAS_JOB_DEADLINE_EPOCH_SECONDS) job_deadline=$value ;;
      NCAAS_JOB_DURATION_ESTIMATE_MINUTES) job_duration_estimate=$value ;;
      NCAAS_JOB_LAUNCHER) launcher=$value ;;
      NCAAS_JOB_EFS_FILE_SYSTEM_ID) job_efs_file_system=$value ;;
      NCAAS_JOB_EFS_ACCESS_POINT_ID) job_efs_access_point=$value ;;
      NCAAS_JOB_WORKING_DIRECTORY) job_working_directory=$value ;;
      NCAAS_JOB_DATASET_COUNT) job_dataset_count=$value ;;
      NCAAS_JOB_PROVENANCE) job_provenance=$value ;;
      NCAAS_JOB_REPORT_TOKEN) job_report_token=$value ;;
      *) log "ignoring unknown job field $name" ;;
    esac
  done
}

if [ "$job_file" = - ]; then
  read_job
elif [ -r "$job_file" ]; then
  read_job <"$job_file"
else
  die_unreported "cannot read the job file $job_file"
fi

case $launcher in ec2 | batch | local) ;; *) die_unreported "unknown launcher in the job" ;; esac
case $job_deadline in '' | *[!0-9]*) die_unreported "the job has no valid deadline" ;; esac

# ---------------------------------------------------------------------------------------------
# 2. Arm the hard deadline FIRST: from here on, nothing (a hung download, a crashed worker, a dead
#    control plane) can keep this instance running past it.
# ---------------------------------------------------------------------------------------------
arm_deadline "$job_deadline"
step='preparing the job'

require() { if [ -z "$1" ]; then die_unreported "the job has no $2"; fi; }
require "$job_bucket" bucket
require "$job_dataset_key" datasetKey
require "$job_dataset_label" datasetLabel
require "$job_config_key" configKey
require "$job_result_folder" resultFolder
require "$job_command" command
require "$job_id" jobId
require "$job_group" group
case $job_dataset_label in */*) die_unreported "the dataset label contains a slash" ;; esac
case $job_dataset_count in '' | *[!0-9]*) job_dataset_count=1 ;; esac
case $job_report_token in *[!0-9a-f]*) die_unreported "the job's report token is not hexadecimal" ;; esac
case $job_result_folder in
  "$job_group/results/"?*) ;;
  *) die_unreported "the job's result folder is not under its group's results/" ;;
esac
case $job_duration_estimate in
  '') ;;
  *[!0-9.]* | *.*.* | .) log "ignoring a duration estimate that is not a number" && job_duration_estimate='' ;;
esac

# ---------------------------------------------------------------------------------------------
# 3. Settings and the scratch dir. /var/tmp, not /tmp: /tmp is a small tmpfs on some AMIs
#    (Amazon Linux 2023) and datasets go here.
# ---------------------------------------------------------------------------------------------
status_interval=${NCAAS_STATUS_INTERVAL:-30}
tail_lines=${NCAAS_TAIL_LINES:-20}
tail_bytes=${NCAAS_TAIL_BYTES:-4000}
retry_attempts=${NCAAS_RETRY_ATTEMPTS:-4}
retry_delay=${NCAAS_RETRY_DELAY:-2}
upload_grace=${NCAAS_UPLOAD_GRACE_SECONDS:-300}
for number in "$status_interval" "$tail_lines" "$tail_bytes" "$retry_attempts" "$retry_delay" \
  "$upload_grace"; do
  case $number in '' | *[!0-9]*) die_unreported "NCAAS_* settings must be whole numbers" ;; esac
done
if [ "$status_interval" -lt 1 ]; then status_interval=1; fi

if [ -n "$batch_job_dir" ]; then
  # Batch: the job folder on EFS is the scratch dir of all three stages; stage `out` removes it.
  work_dir=$batch_job_dir
  mkdir -p "$work_dir" || die_unreported "cannot create the job folder $work_dir on the analysis EFS"
elif [ -n "${NCAAS_WORK_DIR-}" ]; then
  work_dir=$NCAAS_WORK_DIR
  mkdir -p "$work_dir" || die_unreported "cannot create NCAAS_WORK_DIR"
else
  work_dir=$(mktemp -d "${TMPDIR:-/var/tmp}/ncaas-job.XXXXXX") || die_unreported "cannot create a scratch dir"
  created_work_dir=$work_dir
fi
input_dir=$work_dir/input
config_dir=$work_dir/config
output_dir=$work_dir/output
run_dir=$work_dir/run
shim_dir=$work_dir/bin
local_logs=$work_dir/logs
upload_dir=$work_dir/upload/logs
final_dir=$work_dir/upload/final
mkdir -p "$input_dir" "$config_dir" "$output_dir" "$run_dir" "$shim_dir" "$local_logs" "$upload_dir" \
  "$final_dir" "$work_dir/upload/status" || die_unreported "cannot create the scratch dirs"
# The final report carries this launch's secret: on Batch the job folder is on the group's EFS, which
# every container of the group mounts, so the stage-out writes it in its own container instead.
if [ "$stage" = out ]; then
  final_dir=$(mktemp -d "${TMPDIR:-/tmp}/ncaas-final.XXXXXX") || die_unreported "cannot create a scratch dir"
fi
# However PATH spells the shims' folder, the aws shim must recognise it (it skips itself).
shim_dir=$(cd "$shim_dir" && pwd) || die_unreported "cannot resolve the scratch dirs"
worker_log=$local_logs/worker.txt
stdout_file=$local_logs/stdout.txt
stderr_file=$local_logs/stderr.txt
shutdown_requests=$work_dir/shutdown-requests.txt
# Stage `out` reports what stage `run` wrote into these: it must not empty them.
if [ "$stage" != out ]; then
  : >"$stdout_file"
  : >"$stderr_file"
fi
log "worker started: job $job_id, dataset $job_dataset_key, launcher $launcher${stage:+, stage $stage}, scratch $work_dir"

# Names in S3 (keep in step with lib/layout.ts statusKey / finalReportKey).
label=$job_dataset_label
logs_prefix="$job_result_folder/logs/"
process_prefix="$job_result_folder/process_results/"
# Several datasets in one job: each one's NCAAS_OUTPUT_DIR goes to its own folder, so files of the
# same name never overwrite each other (worker/README.md "What it writes").
output_prefix=$process_prefix
if [ "$job_dataset_count" -gt 1 ]; then output_prefix="$process_prefix$label/"; fi
status_name="DATASET_NAME:${label}_STATUS.txt"
final_name="DATASET_NAME:${label}_STATUS.final.json"
# Not in upload_dir: the logs there are synced as they are; the status goes through publish_status.
status_file=$work_dir/upload/status/$status_name
# The status as the worker last uploaded it, and the analysis's own version when it wrote the file
# itself (NeuroCAAS's errorlog_* tools do): see publish_status.
uploaded_status=$work_dir/status.uploaded.json
analysis_status=$work_dir/status.analysis.json
# Each upload of the status file by the analysis with `aws s3 cp`, as the worker's aws shim keeps it.
status_record=$work_dir/status.analysis-upload.json
remote_status=$work_dir/status.remote.json
s3_base="s3://$job_bucket/"

# The CLI needs a region (v1 never reads it from the instance); never a pager (v2 in a terminal).
if [ -z "${AWS_DEFAULT_REGION-}" ] && [ -n "$job_region" ]; then AWS_DEFAULT_REGION=$job_region; fi
if [ -z "${AWS_REGION-}" ] && [ -n "${AWS_DEFAULT_REGION-}" ]; then AWS_REGION=$AWS_DEFAULT_REGION; fi
export AWS_DEFAULT_REGION AWS_REGION
AWS_PAGER=''
export AWS_PAGER
if [ -z "${HOME-}" ]; then HOME=/root && export HOME; fi

# imds <path>: an EC2 instance metadata value (IMDSv2), or nothing off EC2.
imds() {
  if { [ "$machine" = ec2 ] || [ "$launcher" = ec2 ]; } && [ "${AWS_EC2_METADATA_DISABLED-}" != true ] &&
    command -v curl >/dev/null 2>&1; then
    token=$(curl -sf -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
      http://169.254.169.254/latest/api/token 2>/dev/null) &&
      curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1" 2>/dev/null
  else
    return 1
  fi
}
instance_id() {
  if [ -n "${NCAAS_INSTANCE_ID-}" ]; then printf '%s' "$NCAAS_INSTANCE_ID" && return 0; fi
  imds instance-id && return 0
  if [ -n "${AWS_BATCH_JOB_ID-}" ]; then printf '%s' "$AWS_BATCH_JOB_ID" && return 0; fi
  uname -n
}
instance=$(instance_id || uname -n)
# What ran, for reproducibility (the status file's `provenance`): the image the instance booted and
# its type (EC2), beside what the control plane knows (the blueprint's git commit, the image it names).
image_id=$(imds ami-id || true)
instance_type=$(imds instance-type || true)
# The S3 versions of the dataset and config this worker read (set once staged).
dataset_version='' config_version=''
job_start=$(now)
# On Batch the job started with stage `in`, which keeps its start time in the job folder.
if [ "$stage" = in ]; then
  printf '%s\n' "$job_start" >"$work_dir/job-start" || true
elif [ "$stage" = out ] && [ -f "$work_dir/job-start" ]; then
  recorded_start=$(cat "$work_dir/job-start" 2>/dev/null || true)
  case $recorded_start in '' | *[!0-9]*) ;; *) job_start=$recorded_start ;; esac
fi
analysis_started=''
analysis_verdict=''
analysis_reason=''

# ---------------------------------------------------------------------------------------------
# S3 with retries. The CLI retries throttling itself; this adds a few slower attempts for network
# trouble, but gives up at once on errors that will not go away (missing key, access denied).
# ---------------------------------------------------------------------------------------------
aws_err=$work_dir/aws-main.err
last_aws_error=''
aws_retry() {
  attempt=1
  delay=$retry_delay
  while :; do
    # NCAAS_AWS_CALL_TIMEOUT (seconds, unset by default): a stalled transfer fails and is retried
    # instead of holding the worker until its deadline (the local runtime sets it).
    if [ -n "${NCAAS_AWS_CALL_TIMEOUT:-}" ] && command -v timeout >/dev/null 2>&1; then
      timeout "$NCAAS_AWS_CALL_TIMEOUT" aws "$@" --only-show-errors >>"$worker_log" 2>"$aws_err" && return 0
    else
      aws "$@" --only-show-errors >>"$worker_log" 2>"$aws_err" && return 0
    fi
    rc=$?
    last_aws_error=$(grep -v '^[[:space:]]*$' "$aws_err" | tail -n 1 | cut -c 1-400 || true)
    cat "$aws_err" >>"$worker_log" 2>/dev/null || true
    if grep -Eq '\((403|404)\)|NoSuchKey|NoSuchBucket|AccessDenied|does not exist' "$aws_err"; then
      return "$rc"
    fi
    if [ "$attempt" -ge "$retry_attempts" ]; then return "$rc"; fi
    log "aws $1 $2 failed (attempt $attempt, exit $rc): retrying in ${delay}s"
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
  done
}

# ---------------------------------------------------------------------------------------------
# The status file (NeuroCAAS-style JSON) and what goes with it.
# ---------------------------------------------------------------------------------------------
memory_json() {
  LC_ALL=C awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 }
    END { if (t > 0 && a != "") printf "{\"total_mb\": %d, \"used_mb\": %d, \"used_percent\": %.1f}", t / 1024, (t - a) / 1024, (t - a) * 100 / t; else printf "null" }' \
    /proc/meminfo 2>/dev/null || printf 'null'
}
duration_exceeded() {
  if [ -z "$job_duration_estimate" ] || [ -z "$analysis_started" ]; then return 1; fi
  LC_ALL=C awk -v e="$(($(now) - analysis_started))" -v m="$job_duration_estimate" 'BEGIN { exit !(e > m * 60) }'
}

# NeuroCAAS's cpu_usage: a list with one percentage as text (here the 1-minute load over the cores).
cpu_usage_json() {
  cores=$(nproc 2>/dev/null) || cores=1
  LC_ALL=C awk -v cores="$cores" '{ p = (cores > 0) ? $1 * 100 / cores : 0; if (p > 100) p = 100
    printf "[\"%.0f\"]", p; exit }' /proc/loadavg 2>/dev/null || printf '[]'
}
# NeuroCAAS's stdout/stderr: the last lines of a log as an object keyed by line number.
json_lines() {
  if [ -f "$1" ]; then
    total=$(wc -l <"$1" | tr -d ' ')
    shown=$tail_lines
    if [ "$total" -lt "$shown" ]; then shown=$total; fi
    tail -n "$tail_lines" "$1" | tr -d '\000' | LC_ALL=C awk -v first=$((total - shown)) "$JSON_LINES_AWK"
  else
    printf '{}'
  fi
}

# write_status <status> <reason> [exit code] [finish epoch]: the status JSON, written atomically to
# $status_file. NeuroCAAS's keys first, with NeuroCAAS's types (its tools and its users' scripts
# parse them: `reason` a list of strings, `cpu_usage` a list, `stdout` and `stderr` objects keyed by
# line number), then ours.
write_status() {
  read_input_versions
  if duration_exceeded; then exceeded=true; else exceeded=false; fi
  finish_json=null
  if [ -n "${4-}" ]; then finish_json=$(json_string "$(iso_utc "$4")"); fi
  estimate_json=${job_duration_estimate:-null}
  case $job_dataset_index in '' | *[!0-9]*) index_json=null ;; *) index_json=$job_dataset_index ;; esac
  case $estimate_json in .*) estimate_json="0$estimate_json" ;; esac
  case $estimate_json in *.) estimate_json="${estimate_json}0" ;; esac
  out=$status_file
  {
    printf '{\n'
    printf '  "status": %s,\n' "$(json_string "$1")"
    printf '  "reason": [%s],\n' "$(json_string "$2")"
    printf '  "input": %s,\n' "$(json_string "$job_dataset_key")"
    printf '  "instance": %s,\n' "$(json_string "$instance")"
    printf '  "job_start": %s,\n' "$(json_string "$(iso_utc "$job_start")")"
    printf '  "job_finish": %s,\n' "$finish_json"
    # A Batch stage would measure its own staging container, not the analysis: left out there.
    if [ -n "$stage" ]; then printf '  "cpu_usage": [],\n'; else printf '  "cpu_usage": %s,\n' "$(cpu_usage_json)"; fi
    printf '  "stdout": %s,\n' "$(json_lines "$stdout_file")"
    printf '  "stderr": %s,\n' "$(json_lines "$stderr_file")"
    printf '  "dataset_index": %s,\n' "$index_json"
    printf '  "job_id": %s,\n' "$(json_string "$job_id")"
    printf '  "analysis": %s,\n' "$(json_string "$job_analysis")"
    printf '  "launcher": %s,\n' "$(json_string "$launcher")"
    # Batch: where the analysis container's live log is (CloudWatch Logs, group /aws/batch/job).
    if [ -n "${NCAAS_LOG_STREAM-}" ]; then
      printf '  "log_stream": %s,\n' "$(json_string "$NCAAS_LOG_STREAM")"
    fi
    printf '  "updated": %s,\n' "$(json_string "$(iso_utc "$(now)")")"
    printf '  "deadline": %s,\n' "$(json_string "$(iso_utc "$job_deadline")")"
    printf '  "duration_estimate_minutes": %s,\n' "$estimate_json"
    printf '  "duration_estimate_exceeded": %s,\n' "$exceeded"
    printf '  "exit_code": %s,\n' "${3:-null}"
    if [ -n "$analysis_verdict" ]; then
      printf '  "analysis_status": %s,\n' "$(json_string "$analysis_verdict")"
    fi
    printf '  "provenance": {"job": %s, "image_id": %s, "instance_type": %s, "dataset": {"key": %s, "version_id": %s}, "config": {"key": %s, "version_id": %s}},\n' \
      "$(provenance_json)" "$(json_or_null "$image_id")" "$(json_or_null "$instance_type")" \
      "$(json_string "$job_dataset_key")" "$(json_or_null "$dataset_version")" \
      "$(json_string "$job_config_key")" "$(json_or_null "$config_version")"
    printf '  "std": {\n    "stdout": %s,\n    "stderr": %s\n  },\n' "$(json_tail "$stdout_file")" \
      "$(json_tail "$stderr_file")"
    if [ -n "$stage" ]; then printf '  "memory": null\n'; else printf '  "memory": %s\n' "$(memory_json)"; fi
    printf '}\n'
  } >"$out.tmp" && mv "$out.tmp" "$out"
}

# write_final_report <file>: the final report the control plane reads, the status above with its
# `reason` as one string (always line 3, written on one line by write_status), and the secret of this
# launch (the job's report token, hex): the control plane applies only a report that carries it.
write_final_report() {
  LC_ALL=C awk -v token="$job_report_token" '
    NR == 2 && token != "" { print "  \"report_token\": \"" token "\"," }
    NR == 3 && /^  "reason": \[/ { sub(/^  "reason": \[/, "  \"reason\": "); sub(/\],$/, ",") }
    { print }' "$status_file" >"$1"
}

# The status object is shared with the analysis: NeuroCAAS's tools (errorlog_init, _background,
# _final) download it, change it with jq and upload it again. So the worker never overwrites it
# blindly. It reads the object back first; once it differs from what the worker uploaded last after
# COMMAND started, the analysis writes it itself: the worker keeps out of it while COMMAND runs (the
# analysis keeps it live, and two writers would race) and, at the end, merges its final status into
# the analysis's version (what the analysis changed stays, the outcome and timing are the worker's).
# remote_fresh=1: $remote_status was just read (by read_analysis_verdict) and need not be read again.
remote_fresh=0
fetch_remote_status() {
  if [ "$remote_fresh" = 1 ]; then
    remote_fresh=0
    [ -s "$remote_status" ]
    return
  fi
  rm -f "$remote_status"
  aws_retry s3 cp "$s3_base$logs_prefix$status_name" "$remote_status" >/dev/null 2>&1 && [ -s "$remote_status" ]
}
# publish_status [final]: uploads $status_file (merged, see above).
publish_status() {
  body=$status_file
  if [ -s "$status_record" ]; then
    # The analysis uploaded it itself: its own copy, whatever the object holds now.
    cp "$status_record" "$analysis_status" 2>/dev/null || true
  elif [ -n "$analysis_started" ] && fetch_remote_status && ! cmp -s "$remote_status" "$uploaded_status"; then
    cp "$remote_status" "$analysis_status" 2>/dev/null || true
  fi
  if [ -s "$analysis_status" ]; then
    if [ "${1-}" != final ]; then return 0; fi
    if LC_ALL=C awk -v mode=merge -v ours="$status_file" -v theirs="$analysis_status" -v base="$uploaded_status" \
      -v keep='status reason input instance job_start job_finish exit_code std updated' "$JSON_MEMBERS_AWK" \
      >"$status_file.merged" 2>>"$worker_log"; then
      body=$status_file.merged
    else
      log "WARNING: the status file the analysis wrote is not a JSON object: replaced by the worker's"
    fi
  fi
  aws_retry s3 cp "$body" "$s3_base$logs_prefix$status_name" || return 1
  cp "$body" "$uploaded_status" 2>/dev/null || true
}

# The analysis's own verdict: the `status` it wrote into its status file while COMMAND ran (NeuroCAAS's
# errorlog_final writes SUCCESS or FAILED from the analysis script's exit code, and COMMAND then ends
# with `cleanup`, which exits 0 whatever happened). Sets analysis_verdict (SUCCESS, FAILED or empty)
# and analysis_reason. Nothing else writes a final state there before the worker's final one.
read_analysis_verdict() {
  analysis_verdict='' analysis_reason=''
  fetched=0
  fetch_remote_status || fetched=$?
  remote_fresh=1 # publish_status uses this read (or its failure) rather than reading again
  # What the analysis uploaded with `aws s3 cp` (recorded by the aws shim) is its word, even if a
  # live upload of the worker's overwrote the object meanwhile; else what the object holds.
  said=$remote_status
  if [ -s "$status_record" ]; then
    said=$status_record
  elif [ "$fetched" != 0 ] || cmp -s "$remote_status" "$uploaded_status"; then
    return 0 # nothing there, or only what the worker itself uploaded last
  fi
  written=$(LC_ALL=C awk -v mode=get -v key=status -v file="$said" "$JSON_MEMBERS_AWK" 2>/dev/null) || return 0
  case $(printf '%s' "$written" | tr '[:lower:]' '[:upper:]') in
    SUCCESS) analysis_verdict=SUCCESS ;;
    FAILED | SIGKILL/OOM) analysis_verdict=FAILED ;;
    *) return 0 ;;
  esac
  if [ "$said" = "$status_record" ] || ! cmp -s "$remote_status" "$uploaded_status"; then
    cp "$said" "$analysis_status" 2>/dev/null || true
  fi
  analysis_reason=$(LC_ALL=C awk -v mode=get -v key=reason -v file="$said" "$JSON_MEMBERS_AWK" 2>/dev/null |
    tr -d '\000' | cut -c 1-300) || analysis_reason=''
  log "the analysis reported $analysis_verdict in its status file${analysis_reason:+ (reason: $analysis_reason)}"
}

# Copies of the growing logs under their S3 names, so an upload never reads a file being written.
snapshot_logs() {
  cp "$stdout_file" "$upload_dir/DATASET_NAME:${label}_stdout.txt" 2>/dev/null || true
  cp "$stderr_file" "$upload_dir/DATASET_NAME:${label}_stderr.txt" 2>/dev/null || true
  cp "$worker_log" "$upload_dir/DATASET_NAME:${label}_worker.txt" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# The end: one path for success and every failure. Results first, then logs and status, the final
# report last (the control plane reacts to its creation and may write end.txt), then power off.
# ---------------------------------------------------------------------------------------------
stop_monitor() {
  if [ -n "$spot_watch_pid" ]; then
    kill -TERM "$spot_watch_pid" 2>/dev/null || true
    wait "$spot_watch_pid" 2>/dev/null || true
    spot_watch_pid=''
  fi
  if [ -n "$monitor_pid" ]; then
    # The monitor finishes an upload in flight before it stops (TERM is handled between uploads),
    # so no IN PROGRESS status can land after the final one.
    kill -TERM "$monitor_pid" 2>/dev/null || true
    # Seen under load (1 run in ~50): the monitor went on as if the signal never came, and the worker
    # waited forever. So the signal is repeated until it stops, and after a minute it is killed.
    waited=0
    while kill -0 "$monitor_pid" 2>/dev/null && [ "$waited" -lt 600 ]; do
      sleep 0.1 2>/dev/null || sleep 1
      waited=$((waited + 1))
      if [ $((waited % 10)) -eq 0 ]; then kill -TERM "$monitor_pid" 2>/dev/null || true; fi
    done
    kill -KILL "$monitor_pid" 2>/dev/null || true
    wait "$monitor_pid" 2>/dev/null || true
    monitor_pid=''
  fi
}

# Sections 4 and 5 run aws calls in the background (each spends ~0.35 s starting Python): the first
# status must land before any later one, and the versions are read by every status once written.
bg_pids=''
read_input_versions() {
  [ ! -f "$work_dir/input-versions" ] || { IFS= read -r dataset_version && IFS= read -r config_version; } <"$work_dir/input-versions" || :
}

finish() {
  finishing=1
  set +e
  trap '' TERM INT HUP # uploads must finish; only the hard deadline (or SIGKILL) stops them now
  [ -z "$bg_pids" ] || wait $bg_pids 2>/dev/null
  final_status=$1
  final_reason=$2
  final_exit=${3-}
  stop_monitor
  if [ "$stage" = in ]; then
    # Stage `in` never reports a final state: stage `out` does (it runs whatever happened here) and
    # reads why staging failed from this file, first line the status, then the reason.
    log "stage-in failed ($final_status): $final_reason"
    printf '%s\n%s\n' "$final_status" "$final_reason" >"$work_dir/stage-in.error" ||
      log "ERROR: could not record the stage-in failure in the job folder"
    power_off 1
  fi
  if [ "$analysis_ran" = 1 ]; then
    # The config used goes beside the results, unless the analysis wrote a file of that name.
    if [ -n "${config_file-}" ] && [ -f "$config_file" ] && [ ! -e "$output_dir/$config_name" ]; then
      cp "$config_file" "$output_dir/$config_name" || log "WARNING: could not copy the config to the results"
    fi
    if [ -d "$output_dir" ]; then
      log "uploading results to $output_prefix"
      # process_results/end.txt is the control plane's (the job's end): workers may not write it.
      exclude_end=''
      if [ "$output_prefix" = "$process_prefix" ] && [ -e "$output_dir/end.txt" ]; then
        log "WARNING: the analysis wrote end.txt in NCAAS_OUTPUT_DIR: not uploaded (process_results/end.txt marks the job's end)"
        exclude_end=end.txt
      fi
      if ! aws_retry s3 sync "$output_dir" "$s3_base$output_prefix" ${exclude_end:+--exclude "$exclude_end"}; then
        uploads_failed=1
        log "ERROR: uploading the results failed: $last_aws_error"
        if [ "$final_status" = SUCCESS ]; then
          final_status=FAILED
          final_reason="uploading the results to $output_prefix failed: $last_aws_error"
        fi
      fi
    else
      log "WARNING: NCAAS_OUTPUT_DIR was removed by the analysis: no results to upload"
    fi
  fi
  log "final status $final_status: $final_reason"
  write_status "$final_status" "$final_reason" "$final_exit" "$(now)" || log "ERROR: writing the status failed"
  snapshot_logs
  if ! aws_retry s3 cp --recursive "$upload_dir" "$s3_base$logs_prefix"; then
    uploads_failed=1
    log "ERROR: uploading the logs failed: $last_aws_error"
  fi
  if ! publish_status final; then
    uploads_failed=1
    log "ERROR: uploading the status failed: $last_aws_error"
  fi
  if write_final_report "$final_dir/$final_name" &&
    aws_retry s3 cp "$final_dir/$final_name" "$s3_base$logs_prefix$final_name"; then
    log "final report uploaded"
  else
    uploads_failed=1
    log "ERROR: uploading the final report failed: $last_aws_error"
  fi
  if [ -n "$created_work_dir" ] && [ "${NCAAS_KEEP_WORK_DIR-}" != 1 ]; then
    rm -rf "$created_work_dir" || true
    worker_log=''
  fi
  if [ "$stage" = out ]; then
    remove_batch_job_dir
    # The stage-out's own outcome, not the dataset's: it reported (a FAILED analysis too) and removed
    # the folder. Exiting non-zero would have Batch run it again, reporting over its own report.
    if [ "$uploads_failed" = 1 ]; then power_off 1; else power_off 0; fi
  fi
  if [ "$final_status" = SUCCESS ]; then power_off 0; else power_off 1; fi
}

# batch-only: begin (dropped from EC2 user data: lib/launch/compact-script.ts)
# Stage `out`, last step: the job folder goes whatever the outcome, once everything is uploaded. If
# an upload failed and Batch will try this stage again (NCAAS_STAGE_OUT_ATTEMPTS, the job
# definition's retry attempts), the folder stays for that attempt; the last attempt removes it.
remove_batch_job_dir() {
  attempt=${AWS_BATCH_JOB_ATTEMPT:-1}
  attempts=${NCAAS_STAGE_OUT_ATTEMPTS:-1}
  case $attempt in '' | *[!0-9]*) attempt=1 ;; esac
  case $attempts in '' | *[!0-9]*) attempts=1 ;; esac
  if [ "$uploads_failed" = 1 ] && [ "$attempt" -lt "$attempts" ]; then
    log "an upload failed: the job folder is kept for attempt $((attempt + 1)) of $attempts"
    finishing=1
    exit 1
  fi
  log "removing the job folder $work_dir"
  worker_log=''
  rm -rf "$work_dir" || log "ERROR: could not remove the job folder $work_dir"
}
# batch-only: end

# fail <reason>: a step failed; report it (the reason names the step) and power off.
fail() {
  finish FAILED "$1" "${2-}"
}


safe_basename() {
  name=${1%/}
  name=${name##*/}
  case $name in '' | . | ..) name=$2 ;; esac
  printf '%s' "$name"
}
# An rclone dataset (`rclone:<remote>:<path>`, fetched by the Batch fetch stage; remote names have
# no `:`): its name is the last segment of the path, as lib/layout.ts datasetLabel reads it.
case $job_dataset_key in
  rclone:*:*) data_name=$(safe_basename "${job_dataset_key#rclone:*:}" dataset) ;;
  *) data_name=$(safe_basename "$job_dataset_key" dataset) ;;
esac
config_name=$(safe_basename "$job_config_key" config)

# The last non-blank line of the analysis's stderr, for the reason of a failure.
last_stderr_line() {
  tr -d '\000' <"$stderr_file" | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c 1-300 || true
}

# decide_outcome <COMMAND's exit code>: SUCCESS or FAILED (worker/README.md "The outcome"). A non-zero
# exit fails; so does a FAILED the analysis wrote into its status file (read_analysis_verdict), even
# when COMMAND exits 0, as NeuroCAAS COMMANDs do whatever happened (they end with `cleanup`).
decide_outcome() {
  last_stderr=$(last_stderr_line)
  if [ "$1" -ne 0 ]; then
    reported=''
    if [ "$analysis_verdict" = FAILED ]; then reported="; the analysis reported FAILED${analysis_reason:+ ($analysis_reason)}"; fi
    fail "the analysis exited with code $1$reported${last_stderr:+: $last_stderr}" "$1"
  elif [ "$analysis_verdict" = FAILED ]; then
    fail "the analysis reported FAILED in its status file${analysis_reason:+ ($analysis_reason)} (COMMAND exited 0)${last_stderr:+: $last_stderr}" 0
  elif [ "$analysis_verdict" = SUCCESS ]; then
    finish SUCCESS 'the analysis finished and reported SUCCESS' 0
  else
    finish SUCCESS 'the analysis finished' 0
  fi
}

# batch-only: begin (dropped from EC2 user data: lib/launch/compact-script.ts)
# Batch stages `in` and `out` run in the staging image (Container.StagingImage): say plainly what
# it lacks (its log is the job's CloudWatch stream) rather than fail somewhere further on.
if [ -n "$stage" ]; then
  reportable=1
  missing_tools=''
  for tool in aws awk base64 gzip; do
    command -v "$tool" >/dev/null 2>&1 || missing_tools="$missing_tools $tool"
  done
  if [ -n "$missing_tools" ]; then
    fail "the staging image (Container.StagingImage) lacks:$missing_tools. It needs sh, coreutils, awk, gzip and the AWS CLI, and no ENTRYPOINT"
  fi
fi

# ---------------------------------------------------------------------------------------------
# Batch stage `out`: the final state from what the other stages left in the job folder and what
# the control plane saw of them (NCAAS_STAGE_OUT_STATUS / _REASON: a cancel, the deadline, a stage
# that never started), then the same report as on EC2 (finish), then the job folder goes.
# ---------------------------------------------------------------------------------------------
if [ "$stage" = out ]; then
  reportable=1
  step='reporting the result (stage-out)'
  config_file=$config_dir/$config_name
  if [ -f "$work_dir/analysis.started" ]; then
    analysis_ran=1
    analysis_started=$(now)
  fi
  forced_status=${NCAAS_STAGE_OUT_STATUS-}
  case $forced_status in
    '' | FAILED | TIMED_OUT | CANCELLED | INTERRUPTED) ;;
    *) log "ignoring NCAAS_STAGE_OUT_STATUS (not a final state the control plane sets)" && forced_status='' ;;
  esac
  given_reason=${NCAAS_STAGE_OUT_REASON-}
  recorded_exit=''
  if [ -f "$work_dir/exit_code" ]; then
    recorded_exit=$(head -n 1 "$work_dir/exit_code" 2>/dev/null || true)
    case $recorded_exit in '' | *[!0-9]*) recorded_exit='' ;; esac
  fi
  if [ -n "$forced_status" ]; then
    finish "$forced_status" "${given_reason:-the control plane ended the job ($forced_status)}" "$recorded_exit"
  elif [ -n "$recorded_exit" ]; then
    read_analysis_verdict
    decide_outcome "$recorded_exit" 0
  elif [ -f "$work_dir/stage-in.error" ]; then
    stage_in_status=$(head -n 1 "$work_dir/stage-in.error" 2>/dev/null || true)
    stage_in_reason=$(tail -n +2 "$work_dir/stage-in.error" 2>/dev/null | tr '\n' ' ' || true)
    case $stage_in_status in TIMED_OUT) ;; *) stage_in_status=FAILED ;; esac
    finish "$stage_in_status" "stage-in failed: ${stage_in_reason% }"
  else
    fail "${given_reason:-the analysis stage did not run}"
  fi
fi
# batch-only: end

# ---------------------------------------------------------------------------------------------
# 4. Say we started, before the slow staging, so the user sees the job has a worker. From here on
#    every failure is reported in the status file.
# ---------------------------------------------------------------------------------------------
reportable=1
step='reporting the start'
write_status 'IN PROGRESS' 'staging the dataset and config' || fail "writing the status file failed"
# Uploaded beside the staging below, as are the config and the S3 versions: each aws call spends about
# half a second starting Python before it sends anything, and these do not depend on each other.
# Each background call has its own error file; `wait_first_status` keeps the status uploads in order.
(
  aws_err=$aws_err.1
  publish_status || log "WARNING: uploading the first status failed: $last_aws_error (continuing)"
) &
bg_pids=$!

# Spot (Ec2.Spot): EC2 gives two minutes' notice before it reclaims the instance, in the instance
# metadata (spot/instance-action). The worker then uploads what the analysis has written so far
# (logs, the status, NCAAS_OUTPUT_DIR) once, and lets the analysis go on; watched from here, so a
# notice during staging is seen too. The control plane relaunches the dataset on on-demand capacity
# when the instance is gone (lib/control/spot-interruption.ts).
# NCAAS_SPOT_NOTICE_FILE stands in for the metadata off EC2 (the local runtime plays a reclaim with it).
# ec2-only: begin (dropped from the Batch stages' script: lib/launch/compact-script.ts)
spot_notice() {
  if [ -n "${NCAAS_SPOT_NOTICE_FILE-}" ]; then
    [ -s "$NCAAS_SPOT_NOTICE_FILE" ] && cat "$NCAAS_SPOT_NOTICE_FILE"
    return
  fi
  imds spot/instance-action
}
on_spot() {
  if [ -n "${NCAAS_SPOT_NOTICE_FILE-}" ]; then return 0; fi
  [ "$(imds instance-life-cycle 2>/dev/null || true)" = spot ]
}
if on_spot; then
  (
    trap 'exit 0' TERM
    while ! notice=$(spot_notice 2>/dev/null) || [ -z "$notice" ]; do
      sleep "${NCAAS_SPOT_POLL_SECONDS:-5}"
    done
    log "Spot is reclaiming this instance ($(printf '%s' "$notice" | tr -d '\n' | cut -c1-200)): uploading what the analysis wrote so far"
    write_status 'IN PROGRESS' 'Spot is reclaiming this instance: what the analysis wrote so far is uploaded; the dataset will be relaunched on on-demand capacity' || true
    snapshot_logs
    aws_retry s3 sync "$upload_dir" "$s3_base$logs_prefix" || log "WARNING: log upload on the Spot notice failed: $last_aws_error"
    if [ -d "$output_dir" ]; then
      aws_retry s3 sync "$output_dir" "$s3_base$output_prefix" --exclude end.txt ||
        log "WARNING: results upload on the Spot notice failed: $last_aws_error"
    fi
    publish_status || log "WARNING: status upload on the Spot notice failed: $last_aws_error"
  ) &
  spot_watch_pid=$!
fi
# ec2-only: end

if [ "$(now)" -ge "$job_deadline" ]; then
  finish TIMED_OUT "the deadline ($(iso_utc "$job_deadline")) had passed before the analysis started"
fi

# ec2-only: begin
# ---------------------------------------------------------------------------------------------
# EC2 workers of a blueprint with Efs.MountOnEc2Workers: the analysis EFS through the group's access
# point, over TLS with the instance role (amazon-efs-utils' mount helper), before staging.
# ---------------------------------------------------------------------------------------------
if [ -z "$stage" ] && [ -n "$job_efs_file_system" ]; then
  step='mounting the analysis EFS'
  efs_mount_point=${NCAAS_EFS_MOUNT_POINT:-/mnt/efs}
  case $job_efs_file_system in fs-*) ;; *) fail "the job names no valid EFS file system" ;; esac
  case $job_efs_access_point in fsap-*) ;; *) fail "the job names no valid EFS access point" ;; esac
  case "$job_efs_file_system$job_efs_access_point" in
    *[!A-Za-z0-9-]*) fail "the job's EFS ids hold unexpected characters" ;;
  esac
  if ! command -v mount.efs >/dev/null 2>&1; then
    fail "the blueprint sets Efs.MountOnEc2Workers, but this AMI has no EFS mount helper (mount.efs): install amazon-efs-utils in the AMI and point the blueprint at the new image"
  fi
  mkdir -p "$efs_mount_point" || fail "cannot create the EFS mount point $efs_mount_point"
  log "mounting $job_efs_file_system (access point $job_efs_access_point) at $efs_mount_point"
  if command -v timeout >/dev/null 2>&1; then
    timeout 180 mount -t efs -o "tls,iam,accesspoint=$job_efs_access_point" "$job_efs_file_system" \
      "$efs_mount_point" >>"$worker_log" 2>&1 || fail "mounting the analysis EFS ($job_efs_file_system) failed: see the worker log"
  else
    mount -t efs -o "tls,iam,accesspoint=$job_efs_access_point" "$job_efs_file_system" "$efs_mount_point" \
      >>"$worker_log" 2>&1 || fail "mounting the analysis EFS ($job_efs_file_system) failed: see the worker log"
  fi
  NCAAS_EFS_DIR=$efs_mount_point
  export NCAAS_EFS_DIR
fi
# ec2-only: end

# ---------------------------------------------------------------------------------------------
# 5. Stage the dataset and the config. A key ending in / is a folder: the whole folder is one dataset.
# ---------------------------------------------------------------------------------------------
step='staging the dataset'
step='staging the config'
config_file=$config_dir/$config_name
log "staging s3://$job_bucket/$job_config_key"
(
  aws_err=$aws_err.2
  aws_retry s3 cp "$s3_base$job_config_key" "$config_file" || {
    printf '%s\n' "$last_aws_error" >"$aws_err"
    exit 1
  }
) &
config_pid=$!

# The S3 versions read, for reproducibility (versioned bucket; best effort: a failure leaves them out).
object_version() {
  aws s3api head-object --bucket "$job_bucket" --key "$1" --query VersionId --output text 2>>"$worker_log" |
    grep -v '^None$' || true
}
# Read beside the staging on Batch (stage-in leaves them for the other stages); elsewhere once the
# analysis has started, so its two Python start-ups do not slow the staging the analysis waits for.
read_versions() {
  (
    case $job_dataset_key in */ | rclone:*) dataset_version='' ;; *) dataset_version=$(object_version "$job_dataset_key") ;; esac
    config_version=$(object_version "$job_config_key")
    # Renamed into place: a status written meanwhile never reads it half-written.
    printf '%s\n%s\n' "$dataset_version" "$config_version" >"$work_dir/input-versions.new" &&
      mv "$work_dir/input-versions.new" "$work_dir/input-versions"
  ) &
  bg_pids="$bg_pids $!"
}
[ -z "$stage" ] || read_versions

step='staging the dataset'
case $job_dataset_key in
  rclone:*)
    # Batch runs the fetch stage after this one: rclone copies the dataset to the path an S3 dataset
    # gets here (lib/launch/batch-stages.ts FETCH_BOOTSTRAP), so the analysis sees no difference.
    if [ "$stage" != in ]; then
      fail "the dataset $job_dataset_key is on an rclone remote: only the batch runtime fetches such datasets (RemoteSources in the blueprint)"
    fi
    log "the dataset $job_dataset_key is fetched from its rclone remote by the next stage"
    case $job_dataset_key in */) input_path=$input_dir ;; *) input_path=$input_dir/$data_name ;; esac
    ;;
  */)
    log "staging the folder s3://$job_bucket/$job_dataset_key"
    aws_retry s3 sync "$s3_base$job_dataset_key" "$input_dir/" ||
      fail "staging the dataset s3://$job_bucket/$job_dataset_key failed: $last_aws_error"
    if [ -z "$(ls -A "$input_dir")" ]; then
      fail "staging the dataset failed: the folder s3://$job_bucket/$job_dataset_key holds no files"
    fi
    input_path=$input_dir
    ;;
  *)
    log "staging s3://$job_bucket/$job_dataset_key"
    input_path=$input_dir/$data_name
    aws_retry s3 cp "$s3_base$job_dataset_key" "$input_path" ||
      fail "staging the dataset s3://$job_bucket/$job_dataset_key failed: $last_aws_error"
    ;;
esac

step='staging the config'
wait "$config_pid" ||
  fail "staging the config s3://$job_bucket/$job_config_key failed: $(cat "$aws_err.2")"
# The first status before any later one; on Batch the versions too: stage-in leaves them for the others.
wait $bg_pids 2>/dev/null || :

# ---------------------------------------------------------------------------------------------
# 6. The analysis environment: NeuroCAAS's names (as its ncap_utils/workflow.sh parseargsstd sets
#    them from the four arguments) and ours.
# ---------------------------------------------------------------------------------------------
case $job_dataset_key in
  rclone:*) neurocaas_inputdir='' ;;
  */inputs*) neurocaas_inputdir="${job_dataset_key%/inputs*}/inputs" ;;
  */*) neurocaas_inputdir=${job_dataset_key%/*} ;;
  *) neurocaas_inputdir='' ;;
esac
# resultdir is relative to the group, as NeuroCAAS passes it (`results/job__{analysis}_{timestamp}`):
# its scripts write to s3://$bucketname/$groupdir/$resultdir/... themselves.
bucketname=$job_bucket
groupdir=$job_group
resultdir=${job_result_folder#"$job_group/"}
processdir=$resultdir/process_results
dataname=$data_name
inputpath=$job_dataset_key
inputdir=$neurocaas_inputdir
configname=$config_name
configpath=$job_config_key
export bucketname groupdir resultdir processdir dataname inputpath inputdir configname configpath
NCAAS_INPUT_DIR=$input_dir
NCAAS_INPUT_PATH=$input_path
NCAAS_CONFIG_FILE=$config_file
NCAAS_OUTPUT_DIR=$output_dir
NCAAS_JOB_ID=$job_id
NCAAS_DEADLINE=$job_deadline
NCAAS_RESULT_FOLDER=$job_result_folder
NCAAS_SHUTDOWN_REQUEST_FILE=$shutdown_requests
# The analysis's own uploads of its status file, as the worker's `aws` shim records them.
NCAAS_STATUS_URL=$s3_base$logs_prefix$status_name
NCAAS_STATUS_RECORD=$status_record
export NCAAS_STATUS_URL NCAAS_STATUS_RECORD
export NCAAS_INPUT_DIR NCAAS_INPUT_PATH NCAAS_CONFIG_FILE NCAAS_OUTPUT_DIR NCAAS_JOB_ID NCAAS_DEADLINE \
  NCAAS_RESULT_FOLDER NCAAS_SHUTDOWN_REQUEST_FILE
# COMMAND's four placeholders, as the prepared COMMAND references them (${NCAAS_ARG_DATASET}, ...).
NCAAS_ARG_BUCKET=$job_bucket
NCAAS_ARG_DATASET=$job_dataset_key
NCAAS_ARG_RESULTDIR=$resultdir
NCAAS_ARG_CONFIG=$job_config_key
export NCAAS_ARG_BUCKET NCAAS_ARG_DATASET NCAAS_ARG_RESULTDIR NCAAS_ARG_CONFIG

# WORKING_DIRECTORY: COMMAND runs there, as NeuroCAAS ran it in SSM's working directory (`~` is the
# worker's home). NeuroCAAS blueprints often name one the image does not have (`~/bin`) and `cd`
# themselves: then COMMAND runs in the scratch run dir, and the worker log and stderr say so.
command_dir=$run_dir
if [ -n "$job_working_directory" ]; then
  case $job_working_directory in "~" | "~/"*) job_working_directory=$HOME${job_working_directory#"~"} ;; esac
  if [ -d "$job_working_directory" ]; then
    command_dir=$job_working_directory
  else
    log "WARNING: WORKING_DIRECTORY $job_working_directory does not exist on this worker: COMMAND runs in $run_dir"
    printf 'ncaas: WORKING_DIRECTORY %s does not exist on this worker: COMMAND runs in %s\n' \
      "$job_working_directory" "$run_dir" >>"$stderr_file"
  fi
fi

# Our shutdown first on PATH: NeuroCAAS COMMANDs end with `cleanup` (shutdown -h 1 / sudo poweroff);
# the request is only recorded, the worker uploads everything and then powers off itself.
step='preparing the analysis'
cat >"$shim_dir/shutdown" <<'SHIM'
#!/bin/sh
# Installed by the ncaas worker: records a power-off request; the worker powers off after its uploads.
if [ -n "${NCAAS_SHUTDOWN_REQUEST_FILE-}" ]; then
  printf '%s %s\n' "$(basename "$0")" "$*" >>"$NCAAS_SHUTDOWN_REQUEST_FILE" 2>/dev/null || true
fi
echo "ncaas worker: power-off deferred until the results are uploaded" >&2
exit 0
SHIM
cat >"$shim_dir/sudo" <<'SHIM'
#!/bin/sh
# Installed by the ncaas worker: `sudo poweroff` and friends are recorded like `shutdown`; anything
# else goes to the real sudo (the next one on PATH).
case "${1-}" in
  shutdown | poweroff | halt | reboot)
    name=$1
    shift
    exec "$(dirname "$0")/$name" "$@"
    ;;
esac
self_dir=$(cd "$(dirname "$0")" && pwd)
set -f
IFS=:
for dir in $PATH; do
  [ "$dir" = "$self_dir" ] && continue
  if [ -x "$dir/sudo" ]; then unset IFS; exec "$dir/sudo" "$@"; fi
done
echo "sudo: not found" >&2
exit 127
SHIM
cat >"$shim_dir/aws" <<'SHIM'
#!/bin/sh
# Installed by the ncaas worker: the real AWS CLI (the next `aws` on PATH), except that an upload of
# this dataset's status file (NeuroCAAS's errorlog_* run `aws s3 cp <file> s3://.../logs/DATASET_NAME:
# ..._STATUS.txt`) is also kept for the worker (NCAAS_STATUS_RECORD): what the analysis says of itself
# reaches the worker whatever happens to the object in S3 meanwhile.
# `aws [options] s3 cp SRC DST [options]`: DST is the status file's URL, SRC the word before it.
if [ -n "${NCAAS_STATUS_URL-}" ] && [ -n "${NCAAS_STATUS_RECORD-}" ]; then
  seen_s3='' seen_cp='' previous=''
  for arg in "$@"; do
    if [ -n "$seen_cp" ] && [ "$arg" = "$NCAAS_STATUS_URL" ]; then
      case $previous in -* | '') ;; *)
        if [ -f "$previous" ]; then
          cp "$previous" "$NCAAS_STATUS_RECORD.part" 2>/dev/null &&
            mv "$NCAAS_STATUS_RECORD.part" "$NCAAS_STATUS_RECORD" 2>/dev/null
        fi
        ;;
      esac
      break
    fi
    if [ -n "$seen_s3" ] && [ "$arg" = cp ]; then seen_cp=1; fi
    if [ "$arg" = s3 ]; then seen_s3=1; fi
    previous=$arg
  done
fi
# The real CLI runs with this folder off PATH: a wrapper of its own that looks for the next `aws`
# (the local runtime's) must not find this one again.
self_dir=$(cd "$(dirname "$0")" && pwd)
set -f
IFS=:
rest=''
for dir in $PATH; do
  # However this folder is spelt on PATH (a `//`, a trailing `/`), it is skipped: no loop.
  if [ "$dir" = "$self_dir" ] || [ "$dir/aws" -ef "$self_dir/aws" ]; then continue; fi
  rest=${rest:+$rest:}$dir
done
PATH=$rest
export PATH
for dir in $PATH; do
  if [ -x "$dir/aws" ]; then unset IFS; exec "$dir/aws" "$@"; fi
done
echo "aws: not found" >&2
exit 127
SHIM
for alias in poweroff halt reboot; do cp "$shim_dir/shutdown" "$shim_dir/$alias"; done
chmod 755 "$shim_dir/shutdown" "$shim_dir/poweroff" "$shim_dir/halt" "$shim_dir/reboot" "$shim_dir/sudo" "$shim_dir/aws"

command_text=$job_command
log "COMMAND as run: $command_text (in $command_dir)"

# batch-only: begin (dropped from EC2 user data: lib/launch/compact-script.ts)
# ---------------------------------------------------------------------------------------------
# Batch stage `in` ends here: what stage `run` needs goes into the job folder (the worker script
# itself, the environment above as quoted assignments, COMMAND as run and its four arguments), then
# `stage-in.ok` says it is complete. The analysis container runs next (it depends on this job).
# ---------------------------------------------------------------------------------------------
if [ "$stage" = in ]; then
  step='writing the analysis environment into the job folder'
  env_line() { printf '%s=%s\n' "$1" "$(sh_quote "$2")"; }
  {
    printf '# ncaas stage-in: the analysis environment. Values are single-quoted data (sh_quote).\n'
    env_line bucketname "$bucketname"
    env_line groupdir "$groupdir"
    env_line resultdir "$resultdir"
    env_line processdir "$processdir"
    env_line dataname "$dataname"
    env_line inputpath "$inputpath"
    env_line inputdir "$inputdir"
    env_line configname "$configname"
    env_line configpath "$configpath"
    env_line NCAAS_INPUT_DIR "$NCAAS_INPUT_DIR"
    env_line NCAAS_INPUT_PATH "$NCAAS_INPUT_PATH"
    env_line NCAAS_CONFIG_FILE "$NCAAS_CONFIG_FILE"
    env_line NCAAS_OUTPUT_DIR "$NCAAS_OUTPUT_DIR"
    env_line NCAAS_JOB_ID "$NCAAS_JOB_ID"
    env_line NCAAS_DEADLINE "$NCAAS_DEADLINE"
    env_line NCAAS_RESULT_FOLDER "$NCAAS_RESULT_FOLDER"
    env_line NCAAS_SHUTDOWN_REQUEST_FILE "$NCAAS_SHUTDOWN_REQUEST_FILE"
    env_line NCAAS_EFS_DIR "${NCAAS_EFS_ROOT:-/mnt/efs}"
    env_line NCAAS_ARG_BUCKET "$NCAAS_ARG_BUCKET"
    env_line NCAAS_ARG_DATASET "$NCAAS_ARG_DATASET"
    env_line NCAAS_ARG_RESULTDIR "$NCAAS_ARG_RESULTDIR"
    env_line NCAAS_ARG_CONFIG "$NCAAS_ARG_CONFIG"
    env_line NCAAS_STATUS_URL "$NCAAS_STATUS_URL"
    env_line NCAAS_STATUS_RECORD "$NCAAS_STATUS_RECORD"
    printf 'export bucketname groupdir resultdir processdir dataname inputpath inputdir configname configpath\n'
    printf 'export NCAAS_INPUT_DIR NCAAS_INPUT_PATH NCAAS_CONFIG_FILE NCAAS_OUTPUT_DIR NCAAS_JOB_ID NCAAS_DEADLINE\n'
    printf 'export NCAAS_RESULT_FOLDER NCAAS_SHUTDOWN_REQUEST_FILE NCAAS_EFS_DIR\n'
    printf 'export NCAAS_ARG_BUCKET NCAAS_ARG_DATASET NCAAS_ARG_RESULTDIR NCAAS_ARG_CONFIG\n'
    printf 'export NCAAS_STATUS_URL NCAAS_STATUS_RECORD\n'
    env_line ncaas_command "$command_text"
    env_line ncaas_working_directory "$job_working_directory"
  } >"$work_dir/analysis.env.part" || fail "writing the analysis environment to the job folder failed"
  mv "$work_dir/analysis.env.part" "$work_dir/analysis.env" || fail "writing the analysis environment failed"
  cp "$0" "$work_dir/run-job.sh" || fail "copying the worker script into the job folder failed"
  : >"$work_dir/stage-in.ok" || fail "marking the job folder ready failed"
  write_status 'IN PROGRESS' 'the dataset and config are staged; the analysis container starts next' ||
    log "WARNING: writing the status failed"
  publish_status || log "WARNING: uploading the status failed: $last_aws_error (continuing)"
  log "stage-in done: $work_dir is ready for the analysis container"
  finishing=1
  exit 0
fi
# batch-only: end
command_shell=$(command -v bash 2>/dev/null || command -v sh)

# The analysis stops `grace` seconds before the hard deadline (at most half the remaining time) so
# the worker itself can upload and report TIMED_OUT before the instance goes down.
remaining=$((job_deadline - $(now)))
grace=$upload_grace
if [ "$grace" -gt $((remaining / 2)) ]; then grace=$((remaining / 2)); fi
analysis_budget=$((remaining - grace))
if [ "$analysis_budget" -lt 1 ]; then analysis_budget=1; fi
analysis_deadline=$(($(now) + analysis_budget))
use_timeout=0
if command -v timeout >/dev/null 2>&1; then use_timeout=1; fi

# ---------------------------------------------------------------------------------------------
# 7. Run COMMAND. Keys reach it only through the NCAAS_ARG_* variables (the COMMAND was prepared by
#    lib/blueprint/command-template.ts). It runs in the background so the worker can publish its
#    status while it runs.
# ---------------------------------------------------------------------------------------------
step='running the analysis'
analysis_started=$(now)
analysis_ran=1
(
  cd "$command_dir"
  PATH="$shim_dir:$PATH"
  export PATH
  if [ "$use_timeout" = 1 ]; then
    # timeout signals its whole process group: the analysis's children stop too.
    exec timeout -k 10 "$analysis_budget" "$command_shell" -c "$command_text" ncaas
  fi
  exec "$command_shell" -c "$command_text" ncaas
) <"/dev/null" >>"$stdout_file" 2>>"$stderr_file" &
analysis_pid=$!
log "analysis started (pid $analysis_pid, stops at $(iso_utc "$analysis_deadline") at the latest)"
read_versions

# The live status: a background loop. TERM only sets a flag, checked between uploads, so stopping
# it never interrupts an upload half-way (stop_monitor waits for it).
(
  trap 'stop=1' TERM
  stop=0
  aws_err=$work_dir/aws-monitor.err
  while :; do
    if [ "$stop" = 1 ]; then break; fi
    sleep "$status_interval" &
    sleep_pid=$!
    if [ "$stop" != 1 ]; then wait "$sleep_pid" 2>/dev/null || true; fi
    kill "$sleep_pid" 2>/dev/null || true
    if [ "$stop" = 1 ]; then break; fi
    if duration_exceeded; then
      reason="running the analysis (longer than its __duration__ estimate of $job_duration_estimate minutes)"
    else
      reason='running the analysis'
    fi
    write_status 'IN PROGRESS' "$reason" || true
    snapshot_logs
    if [ "$stop" = 1 ]; then break; fi
    aws_retry s3 sync "$upload_dir" "$s3_base$logs_prefix" || log "WARNING: live log upload failed: $last_aws_error"
    if [ "$stop" = 1 ]; then break; fi
    publish_status || log "WARNING: live status upload failed: $last_aws_error"
  done
) &
monitor_pid=$!

analysis_exit=0
wait "$analysis_pid" || analysis_exit=$?
analysis_pid=''
# Before the status is read back for the verdict: the live loop must not replace it meanwhile.
stop_monitor
log "analysis exited with status $analysis_exit"
if [ -s "$shutdown_requests" ]; then
  log "the analysis asked to power off ($(tr '\n' ';' <"$shutdown_requests")): done after the uploads"
fi

# The analysis may have reached the real shutdown despite our shim (an absolute path, sudo with a
# reset PATH) and replaced the deadline with its own, sooner one: restore ours for the uploads.
arm_deadline "$job_deadline"

# ---------------------------------------------------------------------------------------------
# 8. Decide and report.
# ---------------------------------------------------------------------------------------------
step='reporting the result'
if [ "$analysis_exit" -ne 0 ] && [ "$use_timeout" = 1 ] && [ "$(now)" -ge "$analysis_deadline" ]; then
  finish TIMED_OUT "the analysis was stopped at its deadline ($(iso_utc "$analysis_deadline"), \
${analysis_budget}s after it started)" "$analysis_exit"
fi
read_analysis_verdict
decide_outcome "$analysis_exit"
