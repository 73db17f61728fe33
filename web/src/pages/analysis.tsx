/** The analysis: what it runs, the groups the person acts for, its caps, and how busy the group is now. */
import { listJobs } from '../../../lib/cli/jobs-table';
import type { PageProps } from '../app';
import { useLoad } from '../hooks';

const cap = (value: number | null, unit: string): string =>
  value === null ? 'no cap' : `${value}${unit === '' ? '' : ` ${unit}`}`;

export const AnalysisPage = ({ config, session, heading }: PageProps) => {
  const view = config.analysis;
  const jobs = useLoad(() => listJobs(session.target, { group: session.group }), [session]);
  const count = (states: readonly string[]) =>
    jobs.value?.filter((j) => states.includes(j.state)).length ?? 0;
  return (
    <section aria-labelledby="page-title">
      <h2 id="page-title" tabIndex={-1} ref={heading}>
        Analysis {view.name}
      </h2>
      <dl class="facts">
        <dt>Runs</dt>
        <dd>
          each dataset on {view.runtime === 'batch' ? 'AWS Batch' : 'a dedicated EC2 instance of its own'}
          {view.runs ? (
            <details>
              <summary>the command it runs (for the analysis's developers)</summary>
              <code>{view.runs}</code>
            </details>
          ) : null}
        </dd>
        <dt>Region</dt>
        <dd>{view.region}</dd>
        <dt>You act for</dt>
        <dd>
          group <strong>{session.group}</strong>
          {session.groups.length > 1
            ? ` (also: ${session.groups.filter((g) => g !== session.group).join(', ')})`
            : ''}
        </dd>
        <dt>Instance types</dt>
        <dd>
          {view.limits.allowedInstanceTypes.length > 0
            ? view.limits.allowedInstanceTypes.join(', ')
            : (view.defaultInstanceType ?? 'the analysis default')}
          {view.defaultInstanceType !== undefined ? ` (default ${view.defaultInstanceType})` : ''}
        </dd>
        <dt>Longest job</dt>
        <dd>{cap(view.limits.maxDurationMinutes, 'minutes')}</dd>
        <dt>Datasets per job</dt>
        <dd>{cap(view.limits.maxDatasets, '')}</dd>
        <dt>Largest dataset</dt>
        <dd>{cap(view.limits.maxDatasetSizeGiB, 'GiB')}</dd>
        <dt>Workers at once</dt>
        <dd>{view.deployLimit}</dd>
        <dt>Your group now</dt>
        <dd aria-live="polite">
          {jobs.error !== undefined
            ? `could not read the jobs: ${jobs.error}`
            : jobs.value === undefined
              ? 'reading…'
              : `${count(['INITIALIZING', 'IN PROGRESS'])} running, ${count(['QUEUED'])} queued, ${jobs.value.length} in all`}
        </dd>
      </dl>
    </section>
  );
};
