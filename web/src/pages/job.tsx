/**
 * One job: a timeline per dataset, the certificate, the analysis's stdout/stderr tails (the worker
 * uploads them while it runs; read again every few seconds until the job ends), the result files with
 * download links (presigned GETs, 15 minutes), cancel, and submit again with the same inputs.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { useState } from 'preact/hooks';
import { requestCancel } from '../../../lib/cli/cancel-command';
import { jobRef } from '../../../lib/cli/job-folders';
import { jobCost, type DatasetView, type JobView } from '../../../lib/cli/job-status';
import { formatUsd } from '../../../lib/pricing/dataset-cost';
import { listLogs, listResults, type ResultFile } from '../../../lib/cli/result-files';
import { readLocatedJob } from '../../../lib/cli/status-command';
import { isFinal, type UserVisibleState } from '../../../lib/job/job-state';
import { certificateKey } from '../../../lib/layout';
import type { PageProps } from '../app';
import {
  formatBytes,
  formatDate,
  isSettled,
  messageOf,
  Notice,
  Problems,
  refusalOf,
  StateBadge,
} from '../components';
import { useLoad } from '../hooks';
import { hrefOf } from '../route';
import type { Session } from '../session';
import { jobDuration } from './jobs';

const DOWNLOAD_SECONDS = 15 * 60;
const PATH: readonly UserVisibleState[] = ['QUEUED', 'INITIALIZING', 'IN PROGRESS'];

const filename = (relative: string): string => relative.split('/').pop() ?? relative;

const readEverything = async (session: Session, analysis: string, jobId: string) => {
  const view = await readLocatedJob(session.target, jobRef(session.group, analysis, jobId));
  const [certificate, results, logs] = await Promise.all([
    session.target.objects.readText(certificateKey(view.ref.resultFolder)),
    listResults(session.target, view),
    listLogs(session.target, view),
  ]);
  const withLinks = (files: readonly ResultFile[]) =>
    Promise.all(
      files.map(async (file) => ({
        ...file,
        url: await getSignedUrl(
          session.target.client,
          new GetObjectCommand({
            Bucket: session.target.bucket,
            Key: file.key,
            ResponseContentDisposition: `attachment; filename="${filename(file.relative).replace(/["\\\r\n]/g, '_')}"`,
          }),
          { expiresIn: DOWNLOAD_SECONDS },
        ),
      })),
    );
  return { view, certificate, results: await withLinks(results), logs: await withLinks(logs) };
};

/** A status file's time in the page's one format; text that is not a time is shown as written. */
const shownTime = (written: string): string => {
  const time = new Date(written);
  return Number.isNaN(time.getTime()) ? written : formatDate(time);
};

const Timeline = ({ dataset }: { dataset: DatasetView }) => {
  const state = dataset.state;
  const reached = state === undefined ? -1 : isFinal(state) ? PATH.length : PATH.indexOf(state);
  const steps: string[] = [...PATH, state !== undefined && isFinal(state) ? state : 'end'];
  return (
    <ol class="timeline" aria-label={`States of ${dataset.label}`}>
      {steps.map((step, i) => (
        <li
          key={step}
          class={`${i <= reached ? 'reached' : ''}${i === reached ? ' current' : ''}`}
          aria-current={i === reached ? 'step' : undefined}
        >
          {step}
        </li>
      ))}
    </ol>
  );
};

const Dataset = ({ dataset }: { dataset: DatasetView }) => (
  <article class="dataset" aria-label={`Dataset ${dataset.label}`}>
    <h4>
      {dataset.input ?? dataset.label}{' '}
      {dataset.state !== undefined ? <StateBadge state={dataset.state} /> : <span>{dataset.status}</span>}
    </h4>
    <Timeline dataset={dataset} />
    {dataset.reason !== undefined ? <p class="reason">{dataset.reason}</p> : null}
    <p class="muted">
      {dataset.instance !== undefined ? `instance ${dataset.instance} · ` : ''}
      {dataset.jobStart !== undefined ? `started ${shownTime(dataset.jobStart)}` : ''}
      {dataset.jobFinish !== undefined ? ` · finished ${shownTime(dataset.jobFinish)}` : ''}
      {dataset.exitCode !== undefined ? ` · exit code ${dataset.exitCode}` : ''}
      {typeof dataset.cost === 'number' ? ` · cost ${formatUsd(dataset.cost)}` : ''}
      {dataset.cost === 'unknown'
        ? ` · cost unknown${dataset.costUnknownReason ? `: ${dataset.costUnknownReason}` : ''}`
        : ''}
    </p>
    <details open={dataset.stdout !== ''}>
      <summary>stdout (last lines)</summary>
      <pre class="stdout">{dataset.stdout || '(nothing yet)'}</pre>
    </details>
    <details open={dataset.stderr !== ''}>
      <summary>stderr (last lines)</summary>
      <pre class="stderr">{dataset.stderr || '(nothing yet)'}</pre>
    </details>
  </article>
);

const FileLinks = ({
  files,
  none,
  label,
}: {
  files: readonly (ResultFile & { url: string })[];
  none: string;
  label: string;
}) =>
  files.length === 0 ? (
    <p class="muted">{none}</p>
  ) : (
    <ul class="results" aria-label={label}>
      {files.map((file) => (
        <li key={file.key}>
          <a href={file.url} download={filename(file.relative)} rel="noopener">
            {file.relative}
          </a>{' '}
          <span class="muted">{formatBytes(file.size)}</span>
        </li>
      ))}
    </ul>
  );

export const JobPage = ({ config, session, heading, jobId }: PageProps & { jobId: string }) => {
  const job = useLoad(
    () => readEverything(session, config.analysis.name, jobId),
    [session, jobId],
    (value) => value === undefined || !isSettled(value.view),
  );
  const [cancel, setCancel] = useState<string>();
  const doCancel = async (view: JobView): Promise<void> => {
    if (
      !confirm(`Cancel job ${view.ref.jobId}? Its workers are stopped; finished datasets keep their results.`)
    )
      return;
    try {
      const result = await requestCancel(session.target, view);
      setCancel(
        result.kind === 'requested'
          ? 'Cancel requested: the workers are being stopped.'
          : `The job already ended (${result.view.state}): nothing to cancel.`,
      );
      job.reload();
    } catch (error) {
      setCancel(`The cancel request was not written: ${messageOf(error)}`);
    }
  };
  const value = job.value;
  const cost = value === undefined ? undefined : jobCost(value.view);
  return (
    <section aria-labelledby="page-title">
      <h2 id="page-title" tabIndex={-1} ref={heading}>
        Job {jobId}{' '}
        {value !== undefined ? (
          <StateBadge state={refusalOf(value.view) !== undefined ? 'REFUSED' : value.view.state} />
        ) : null}
      </h2>
      {job.error !== undefined ? <Problems title="Could not read the job" items={[job.error]} /> : null}
      {value === undefined ? (
        job.error === undefined ? (
          <Notice>Reading the job…</Notice>
        ) : null
      ) : (
        <>
          <p>
            Submitted {formatDate(value.view.submittedAt)} · {jobDuration(value.view)}
            {cost !== undefined ? ` · cost ${cost}` : ''} · {value.view.summary}
          </p>
          <div class="toolbar">
            {!value.view.final ? (
              <button type="button" class="danger" onClick={() => void doCancel(value.view)}>
                Cancel job
              </button>
            ) : null}{' '}
            <a href={hrefOf({ page: 'submit', again: jobId })}>Submit again with the same inputs</a>
          </div>
          {cancel !== undefined ? <Notice>{cancel}</Notice> : null}
          {refusalOf(value.view) !== undefined ? (
            <Problems title="The submission was refused" items={[refusalOf(value.view) ?? '']} />
          ) : null}
          <h3>Datasets</h3>
          {value.view.datasets.length === 0 ? <p class="muted">No dataset has started yet.</p> : null}
          {value.view.datasets.map((d) => (
            <Dataset dataset={d} key={d.label} />
          ))}
          <h3>Results</h3>
          <FileLinks files={value.results} none="No result files yet." label="Result files" />
          <h3>Logs</h3>
          <FileLinks
            files={value.logs}
            none="No logs yet."
            label="Log files: whole stdout and stderr, each dataset's status, the certificate"
          />
          <h3>Certificate</h3>
          <pre class="certificate">{value.certificate ?? '(not written yet)'}</pre>
        </>
      )}
    </section>
  );
};
