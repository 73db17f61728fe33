/** Jobs: the group's jobs, newest first, from the bucket alone (lib/cli/jobs-table.ts, as `ncaas jobs`), live while any runs. */
import { useState } from 'preact/hooks';
import { listJobs } from '../../../lib/cli/jobs-table';
import { jobCost, type JobView } from '../../../lib/cli/job-status';
import { USER_VISIBLE_STATES } from '../../../lib/job/job-state';
import type { PageProps } from '../app';
import {
  formatDate,
  formatDuration,
  isSettled,
  Notice,
  Problems,
  refusalOf,
  StateBadge,
} from '../components';
import { LIVE_INTERVAL_MS, useLoad } from '../hooks';
import { hrefOf } from '../route';

/** From the submission to the last change seen (to now while the job runs). */
export const jobDuration = (view: JobView, now: number = Date.now()): string => {
  if (view.submittedAt === undefined) return '-';
  const end = view.final ? (view.updatedAt?.getTime() ?? now) : now;
  return formatDuration(end - view.submittedAt.getTime());
};

const REFUSED = 'REFUSED';

export const JobsPage = ({ session, heading }: PageProps) => {
  const [filter, setFilter] = useState('');
  const jobs = useLoad(
    async () => (await listJobs(session.target, { group: session.group })).reverse(),
    [session],
    (views) => views === undefined || views.some((v) => !isSettled(v)),
  );
  const shown = (jobs.value ?? []).filter((v) =>
    filter === ''
      ? true
      : filter === REFUSED
        ? refusalOf(v) !== undefined
        : v.state === filter && refusalOf(v) === undefined,
  );
  const live = jobs.value?.some((v) => !isSettled(v)) ?? false;
  return (
    <section aria-labelledby="page-title">
      <h2 id="page-title" tabIndex={-1} ref={heading}>
        Jobs of group {session.group}
      </h2>
      <div class="toolbar">
        <label for="state-filter">Show</label>
        <select id="state-filter" value={filter} onChange={(e) => setFilter(e.currentTarget.value)}>
          <option value="">every state</option>
          {[...USER_VISIBLE_STATES, REFUSED].map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>{' '}
        <button type="button" onClick={jobs.reload}>
          Refresh
        </button>{' '}
        <span class="muted" aria-live="polite">
          {live ? `following: read again every ${LIVE_INTERVAL_MS / 1000} s` : ''}
        </span>
      </div>
      {jobs.error !== undefined ? <Problems title="Could not read the jobs" items={[jobs.error]} /> : null}
      {jobs.value === undefined ? (
        <Notice>Reading the jobs…</Notice>
      ) : shown.length === 0 ? (
        <p>
          No jobs{filter !== '' ? ` in state ${filter}` : ''} yet.{' '}
          <a href={hrefOf({ page: 'submit' })}>Submit one</a>.
        </p>
      ) : (
        <div class="table-wrap">
          <table aria-label="Jobs">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">State</th>
                <th scope="col" class="optional">
                  Submitted
                </th>
                <th scope="col">Duration</th>
                <th scope="col" class="optional">
                  Cost
                </th>
                <th scope="col" class="optional">
                  Datasets
                </th>
                <th scope="col">Note</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((v) => (
                <tr key={v.ref.jobId} data-job={v.ref.jobId}>
                  <td>
                    <a href={hrefOf({ page: 'job', jobId: v.ref.jobId })}>{v.ref.jobId}</a>
                  </td>
                  <td>
                    <StateBadge state={refusalOf(v) !== undefined ? REFUSED : v.state} />
                  </td>
                  <td class="optional">{formatDate(v.submittedAt)}</td>
                  <td>{jobDuration(v)}</td>
                  <td class="optional">{jobCost(v) ?? '-'}</td>
                  <td class="optional">{v.datasets.map((d) => d.input ?? d.label).join(', ') || '-'}</td>
                  <td>{refusalOf(v) ?? v.summary}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
};
