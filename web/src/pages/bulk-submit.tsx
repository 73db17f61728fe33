/**
 * Many jobs from one job list (CSV, or an .xlsx workbook's first sheet), as `ncaas submit --csv` takes it (lib/cli/job-list.ts: the same
 * columns, rows, problems and words). Here `data` and `config` are keys already uploaded (a browser
 * cannot read paths on the person's disk). Every row is checked; the table shows each row's
 * problems, and nothing is written until there are none. Then the rows are sent in order.
 */
import { useMemo, useState } from 'preact/hooks';
import { analysisForChecks, type ConsoleConfig } from '../../../lib/console/console-config';
import { mapLimited } from '../../../lib/map-limited';
import {
  CSV_COLUMNS,
  MAX_CSV_BYTES,
  repeatedRowProblems,
  rowTimestamps,
  rowProblem,
  sortProblems,
  whereIs,
  type BulkRow,
  type JobList,
  type RowProblem,
} from '../../../lib/cli/job-list';
import { JOB_LIST_ACCEPT, readJobListBytes } from '../../../lib/cli/job-list-file';
import {
  checkPlannedSubmission,
  keyPlan,
  submitJsonText,
  type SubmissionPlan,
} from '../../../lib/cli/submission-check';
import { defaultJobId } from '../../../lib/submission/job-id';
import { formatBytes, messageOf, Notice, Problems } from '../components';
import { hrefOf } from '../route';
import type { Session } from '../session';

interface Checked {
  readonly file: string;
  readonly rows: readonly BulkRow[];
  readonly plans: ReadonlyMap<number, SubmissionPlan>;
  readonly problems: readonly RowProblem[];
}

const templateText = (group: string): string =>
  `${CSV_COLUMNS.join(',')}\n` +
  `${group},${group}/inputs/session1.zip,${group}/configs/config.yaml,,\n` +
  `${group},${group}/inputs/session2.zip;${group}/inputs/session3.zip,${group}/configs/config.yaml,,\n`;

const checkList = async (
  config: ConsoleConfig,
  session: Session,
  file: string,
  read: JobList,
): Promise<Checked> => {
  const problems: RowProblem[] = [...read.problems, ...repeatedRowProblems(read.rows)];
  const timestampOf = rowTimestamps(read.rows, defaultJobId());
  const plans = new Map<number, SubmissionPlan>();
  for (const row of read.rows) {
    if (row.group !== session.group) {
      problems.push({
        row: row.row,
        column: 'group',
        message: `"${row.group}" is not your group: you act for ${session.group} here`,
      });
      continue;
    }
    plans.set(
      row.row,
      keyPlan({
        group: row.group,
        datasetKeys: row.data,
        configKey: row.config,
        jobId: timestampOf(row),
        ...(row.instanceType !== undefined ? { instanceType: row.instanceType } : {}),
      }),
    );
  }
  const rules = analysisForChecks(config.analysis);
  const checks = await mapLimited([...plans], 8, async ([row, plan]) => ({
    row,
    plan,
    check: await checkPlannedSubmission(session.target, plan, rules),
  }));
  for (const { row, plan, check } of checks)
    for (const p of check.problems) problems.push(rowProblem(row, p, plan));
  return { file, rows: read.rows, plans, problems: sortProblems(problems) };
};

export const BulkSubmit = ({ config, session }: { config: ConsoleConfig; session: Session }) => {
  const [checked, setChecked] = useState<Checked>();
  const [problem, setProblem] = useState<string>();
  const [sent, setSent] = useState<{ row: number; jobId: string }[]>([]);
  const [busy, setBusy] = useState(false);
  const template = useMemo(
    () => URL.createObjectURL(new Blob([templateText(session.group)], { type: 'text/csv' })),
    [session.group],
  );

  const choose = async (file: File | undefined): Promise<void> => {
    setChecked(undefined);
    setSent([]);
    setProblem(undefined);
    if (file === undefined) return;
    if (file.size > MAX_CSV_BYTES) {
      setProblem(
        `${file.name} is ${formatBytes(file.size)}; a job list may be at most ${formatBytes(MAX_CSV_BYTES)}`,
      );
      return;
    }
    setBusy(true);
    try {
      const read = await readJobListBytes(new Uint8Array(await file.arrayBuffer()));
      if (read.ok) setChecked(await checkList(config, session, file.name, read.list));
      else setProblem(`${file.name} ${read.message}`);
    } catch (error) {
      setProblem(messageOf(error));
    } finally {
      setBusy(false);
    }
  };

  const send = async (list: Checked): Promise<void> => {
    setBusy(true);
    const done: { row: number; jobId: string }[] = [];
    try {
      for (const row of list.rows) {
        const plan = list.plans.get(row.row);
        if (plan === undefined) continue;
        await session.target.objects.write(plan.submitKey, submitJsonText(plan), 'application/json');
        done.push({ row: row.row, jobId: plan.jobId });
        setSent([...done]);
      }
      setChecked(undefined);
    } catch (error) {
      setProblem(
        `row ${list.rows[done.length]?.row ?? '?'} was not submitted (${done.length} before it were): ${messageOf(error)}`,
      );
    } finally {
      setBusy(false);
    }
  };

  const problemsOf = (row: number) => checked?.problems.filter((p) => p.row === row) ?? [];
  const fileProblems = checked?.problems.filter((p) => !checked.rows.some((r) => r.row === p.row)) ?? [];
  return (
    <div class="bulk">
      <h3>Many jobs from a job list (CSV or Excel)</h3>
      <p>
        One row a job, columns <code>{CSV_COLUMNS.join(', ')}</code> (the last two optional); several datasets
        of one job separated by <code>;</code>; data and config are keys you have uploaded.{' '}
        <a href={template} download="jobs-template.csv">
          Download a template
        </a>
        .
      </p>
      <label for="csv">Job list (CSV UTF-8, or an .xlsx workbook: its first sheet)</label>
      <input
        id="csv"
        type="file"
        accept={JOB_LIST_ACCEPT}
        onChange={(e) => void choose(e.currentTarget.files?.[0])}
      />
      {problem !== undefined ? <Problems title="Not submitted" items={[problem]} /> : null}
      {busy ? <Notice>Working…</Notice> : null}
      {checked !== undefined ? (
        <>
          <Problems
            title={`${checked.file}: ${checked.problems.length} problem${checked.problems.length === 1 ? '' : 's'}; nothing will be submitted until they are fixed`}
            items={checked.problems.map((p) => `${whereIs(p)}: ${p.message}`)}
          />
          {fileProblems.length === 0 && checked.rows.length > 0 ? (
            <div class="table-wrap">
              <table aria-label="Jobs in the file">
                <thead>
                  <tr>
                    <th scope="col">Row</th>
                    <th scope="col">Data</th>
                    <th scope="col">Config</th>
                    <th scope="col" class="optional">
                      Instance type
                    </th>
                    <th scope="col">Problems</th>
                  </tr>
                </thead>
                <tbody>
                  {checked.rows.map((row) => (
                    <tr key={row.row} class={problemsOf(row.row).length > 0 ? 'bad-row' : undefined}>
                      <th scope="row">{row.row}</th>
                      <td>{row.data.join('; ')}</td>
                      <td>{row.config}</td>
                      <td class="optional">{row.instanceType ?? ''}</td>
                      <td>
                        {problemsOf(row.row)
                          .map((p) => p.message)
                          .join(' ') || 'ok'}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          <p>
            <button
              type="button"
              class="primary"
              disabled={busy || checked.problems.length > 0 || checked.plans.size === 0}
              onClick={() => void send(checked)}
            >
              Submit {checked.plans.size} job{checked.plans.size === 1 ? '' : 's'}
            </button>
          </p>
        </>
      ) : null}
      {sent.length > 0 ? (
        <Notice>
          Submitted:{' '}
          {sent.map((s, i) => (
            <span key={s.jobId}>
              {i > 0 ? ', ' : ''}row {s.row} <a href={hrefOf({ page: 'job', jobId: s.jobId })}>{s.jobId}</a>
            </span>
          ))}
        </Notice>
      ) : null}
    </div>
  );
};
