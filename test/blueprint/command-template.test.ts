/**
 * COMMAND's placeholders (lib/blueprint/command-template.ts): every shape that is accepted hands the
 * analysis each value exactly and runs none of it; every shape where a value would be parsed again
 * (a nested shell, eval, an interpreter's inline code) is refused with the safe spelling.
 * The accepted shapes are run for real with bash, with hostile values in the NCAAS_ARG_* variables.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COMMAND_ARGUMENTS, prepareCommand } from '../../lib/blueprint/command-template';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-command-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A program that records each argument it gets, NUL-terminated, in $RECORD. */
const recorder = path.join(tmp, 'record');
fs.writeFileSync(recorder, '#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a" >>"$RECORD"; done\n', {
  mode: 0o755,
});

const marker = path.join(tmp, 'pwned');
/** Values an attacker controls (keys, timestamps): each would run `touch $marker` if parsed as shell. */
const HOSTILE: readonly string[] = [
  `lab/inputs/a; touch ${marker}`,
  `lab/inputs/$(touch ${marker})`,
  `lab/inputs/\`touch ${marker}\``,
  `lab/inputs/it's "quoted" \\ back'slash`,
  `lab/inputs/new\nline; touch ${marker}`,
  `-rf lab/inputs/leading-dash`,
  `lab/inputs/*`,
  `16:52:06.836494 $HOME ' ; touch ${marker} ; '`,
  `" ; touch ${marker} ; "`,
];

const prepared = (command: string): string => {
  const result = prepareCommand(command);
  if (!result.ok) throw new Error(result.problem);
  return result.text;
};

/**
 * Runs a prepared COMMAND with bash as the worker does, once per set of four values (in their
 * NCAAS_ARG_* variables); returns what the recorder received in each run. One outer bash reads the
 * sets from a file (NUL-separated), so a shape costs one process start, not one per value.
 */
const run = (command: string, sets: readonly (readonly string[])[]): string[][] => {
  const id = Math.random().toString(36).slice(2);
  const record = path.join(tmp, `record-${id}`);
  const input = path.join(tmp, `values-${id}`);
  fs.writeFileSync(input, sets.flatMap((values) => values.map((v) => `${v}\0`)).join(''));
  const [a, b, c, d] = COMMAND_ARGUMENTS.map((arg) => arg.variable);
  const loop = `while IFS= read -r -d '' ${a} && IFS= read -r -d '' ${b} && IFS= read -r -d '' ${c} && IFS= read -r -d '' ${d}; do export ${a} ${b} ${c} ${d}; bash -c "$CMD" ncaas || exit; printf '\\1' >>"$RECORD"; done <"$INPUT"`;
  const env = {
    PATH: `${tmp}:${process.env.PATH ?? ''}`,
    RECORD: record,
    INPUT: input,
    CMD: prepared(command),
  };
  const out = spawnSync('bash', ['-c', loop], { env, cwd: tmp, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`bash exited ${out.status}: ${out.stderr}`);
  const text = fs.existsSync(record) ? fs.readFileSync(record, 'utf8') : '';
  return text
    .split('\u0001')
    .slice(0, -1)
    .map((one) => one.split('\0').slice(0, -1));
};

/** Accepted shapes, and what the recorder must receive given values v1..v4. */
const ACCEPTED: readonly (readonly [string, string, (v: readonly string[]) => string[]])[] = [
  ['quoted, as NeuroCAAS blueprints write it', 'record "{}" "{}" "{}" "{}"; true', (v) => [...v]],
  ['bare', 'record {} {} {} {}', (v) => [...v]],
  ['single-quoted', "record '{}' '{}' '{}' '{}'", (v) => [...v]],
  [
    'inside a longer double- and single-quoted word',
    'record "s3://{}/x" \'at {} end\' --in={} x{}y',
    (v) => [`s3://${v[0]}/x`, `at ${v[1]} end`, `--in=${v[2]}`, `x${v[3]}y`],
  ],
  [
    'inside $(...) inside double quotes',
    'record "$(printf %s {})" "$( (printf %s "{}") )" {} {}',
    (v) => [...v],
  ],
  [
    'as arguments after a nested script (the safe spelling)',
    'bash -c \'record "$1" "$2"\' ncaas {} {}; sh -c \'record "$@"\' sh {} "{}"',
    (v) => [...v],
  ],
  [
    'NeuroCAAS COMMAND with cd and cleanup',
    'cd /; record "{}" "{}" "{}" "{}"; cleanup () { :; }; cleanup',
    (v) => [...v],
  ],
  ['sudo with a program and its arguments (no shell)', 'command record "{}" "{}" "{}" "{}"', (v) => [...v]],
];

/** Each hostile value in every position, with other hostile values beside it. */
const HOSTILE_SETS = HOSTILE.map((value, i) => [
  value,
  HOSTILE[(i + 1) % HOSTILE.length] ?? '',
  value,
  `lab/configs/${value}`,
]);

test.each(ACCEPTED)(
  '%s: every hostile value arrives verbatim and nothing runs',
  (_name, command, expected) => {
    expect(run(command, HOSTILE_SETS)).toEqual(HOSTILE_SETS.map(expected));
    expect(fs.existsSync(marker)).toBe(false);
  },
);

test('the test can fail: the same values in an unsafe COMMAND do run', () => {
  // The premise of the tests above: filled in as text (as NeuroCAAS did), these values are code.
  const unsafe = spawnSync('bash', ['-c', `record "${HOSTILE[1]}"`], {
    env: { PATH: `${tmp}:${process.env.PATH ?? ''}`, RECORD: path.join(tmp, 'r') },
  });
  expect(unsafe.status).toBe(0);
  expect(fs.existsSync(marker)).toBe(true);
  fs.rmSync(marker);
});

test('the NeuroCAAS spelling becomes variable references, nothing else changes', () => {
  expect(
    prepared(
      'cd /home/ubuntu; neurocaas_remote/run_main.sh "{}" "{}" "{}" "{}"; . neurocaas_remote/ncap_utils/workflow.sh; cleanup',
    ),
  ).toBe(
    'cd /home/ubuntu; neurocaas_remote/run_main.sh "${NCAAS_ARG_BUCKET}" "${NCAAS_ARG_DATASET}" "${NCAAS_ARG_RESULTDIR}" "${NCAAS_ARG_CONFIG}"; . neurocaas_remote/ncap_utils/workflow.sh; cleanup',
  );
});

test('placeholders after the fourth are left as written', () => {
  expect(prepared('record {} {} {} {} {}')).toMatch(/ \{\}$/);
});

const REFUSED: readonly (readonly [string, string, RegExp])[] = [
  ["bash -c '...'", "bash -c 'run {}' x {} {} {}", /script of `bash -c`/],
  ['sh -c "..."', 'sh -c "run {} {} {} {}"', /script of `sh -c`/],
  ['sudo -u ubuntu bash -c "..."', 'sudo -u ubuntu bash -c "cd /x; run {} {} {} {}"', /script of `bash -c`/],
  ['bash -lc with options before', 'bash -o pipefail -lc "run {}" {} {} {}', /script of `bash -c`/],
  ['/bin/bash -c', '/bin/bash -c "run {}"; r {} {} {}', /script of `bash -c`/],
  ['eval', 'eval "run {}"; r {} {} {}', /`eval`/],
  ['ssh', 'ssh host run {} {} {} {}', /`ssh`/],
  ['su -c', 'su ubuntu -c "run {}"; r {} {} {}', /`su -c`/],
  ['python -c', 'python3 -c "import x; x.run(\'{}\')"; r {} {} {}', /`python3 -c`/],
  ['matlab -batch', 'matlab -nodisplay -batch "run(\'{}\')"; r {} {} {}', /`matlab -batch`/],
  ['Rscript -e', 'Rscript -e "f(\'{}\')"; r {} {} {}', /`Rscript -e`/],
  ['perl -lne (bundled)', 'perl -lne \'print "{}"\' f; r {} {} {}', /`perl -lne`/],
  ['node -pe (bundled)', 'node -pe "x({})"; r {} {} {}', /`node -pe`/],
  [
    'python -W ignore -c (an option value before -c)',
    'python3 -W ignore -c "x({})"; r {} {} {}',
    /`python3 -c`/,
  ],
  ['awk program', "awk '/{}/ { print }' f; r {} {} {}", /program text of `awk`/],
  ['sed -e script', "sed -e 's/{}//' f; r {} {} {}", /program text of `sed`/],
  ['backquotes', 'r `echo {}` {} {} {}', /backquotes/],
  ['a here-document', 'python3 <<EOF\nprint("{}")\nEOF\nr {} {} {}', /here-document/],
  ["$'...' quotes", "r $'{}' {} {} {}", /\$'\.\.\.'/],
  ['${...}', 'r ${X:-{}} {} {} {}', /\$\{\.\.\.\}/],
];

test.each(REFUSED)('%s is refused with the reason and the safe spelling', (_name, command, why) => {
  const result = prepareCommand(command);
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.problem).toMatch(why);
  expect(result.problem).toMatch(/^COMMAND's placeholder 1 \(the bucket\)/);
  expect(result.problem).toContain(`bash -c 'run "$1"' ncaas "{}"`);
});

test('the refusal names the placeholder it is about', () => {
  const result = prepareCommand('run {} {} "{}"; bash -c "x {}"');
  expect(result).toEqual({
    ok: false,
    problem: expect.stringMatching(/^COMMAND's placeholder 4 \(the config key\)/),
  });
});

test.each([
  ['a script file with -c among its own options', 'python run.py -c {} {} {} {}'],
  ['bash running a script file', 'bash run.sh -c {} {} {} {}'],
  ['jq with the value as --arg', "jq --arg k {} '.x' {} {} {}"],
  ['awk with the value as -v', "awk -v key={} '{ print key }' {} {} {}"],
  ['sed editing a file named by a key', "sed -i 's/a/b/' {} {} {} {}"],
])('%s is accepted', (_name, command) => {
  expect(prepareCommand(command).ok).toBe(true);
});

test.each([
  ['an escaped placeholder', 'run \\{} {} {} {}'],
  ['a placeholder in a comment', 'run {} {} {} # {}'],
])('%s leaves fewer than four filled: refused (the values would shift)', (_name, command) => {
  const result = prepareCommand(command);
  expect(result).toEqual({
    ok: false,
    problem: expect.stringMatching(
      /^COMMAND has 3 placeholder\(s\) where its shell would see them, not four/,
    ),
  });
});
