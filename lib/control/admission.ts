/**
 * From a recorded job to launch messages: the budget check (MAXCOST) and admission to the queue, then
 * the drain (./queue-drain.ts).
 */
import type { DatasetRecord, Job } from '../job/job-store';
import { budgetMonth } from '../job/job-store';
import { jobResultFolder, REFUSAL_LABEL, statusKey } from '../layout';
import { mapLimited } from '../map-limited';
import type { ControlContext } from './control-context';
import { endDataset } from './dataset-finish';
import { sendNotification } from './notify';
import { drainQueue } from './queue-drain';

export { drainQueue };

const usd = (n: number): string => `$${n.toFixed(2)}`;

/** A job of many datasets writes its status files a few at a time, not hundreds of requests at once. */
const STATUS_WRITES_AT_ONCE = 8;

/**
 * Budget check then admission of a job in SUBMITTED state. Safe to repeat (admit is idempotent);
 * the one imprecision: when the watchdog finishes an admission a crashed handler had begun, a
 * reservation the handler had made is counted again (the budget errs on the cautious side).
 */
export const admitJob = async (
  ctx: ControlContext,
  job: Job,
  notes: readonly string[] = [],
): Promise<void> => {
  const { header } = job;
  const { config, store, report } = ctx;
  const resultFolder = jobResultFolder(header.group, config.name, header.jobId);
  const datasets = job.datasets.filter((d) => d.state === 'SUBMITTED');
  if (datasets.length === 0) return;

  // A refusal interrupted midway (some datasets FAILED before admission): finish the refusal.
  const refused = job.datasets.find((d) => d.state === 'FAILED' && d.queuedAt === undefined && d.reason);
  if (refused) {
    await failAll(ctx, datasets, refused.reason ?? 'the submission was refused');
    return;
  }

  if (config.monitor && header.estimatedCostUsd > 0) {
    const month = budgetMonth(header.submittedAt);
    const reservation = await store.counters.reserveBudget(
      header.group,
      month,
      header.estimatedCostUsd,
      config.maxCostUsd,
    );
    if (!reservation.ok) {
      const reason =
        `this job's estimated cost ${usd(reservation.requestedUsd)} does not fit the group's monthly budget for ` +
        `${config.name}: ${usd(reservation.committedUsd)} of ${usd(reservation.maxUsd)} is already used or committed in ${month}. ` +
        'Lower __duration__ in the config, submit fewer datasets, or ask the analysis developer to raise MAXCOST';
      await failAll(ctx, datasets, reason);
      return;
    }
  }

  const { admitted } = await store.admit(header, job);
  // A refused earlier submission with this timestamp left a FAILED status; this job replaces it.
  const refusal = statusKey(resultFolder, REFUSAL_LABEL);
  const waiting = `waiting for a worker (at most ${config.deployLimit} of this analysis run at once)`;
  // Separate objects, so written at once; all are done before the drain writes what comes next.
  await Promise.all([
    // Deleted only when there: a delete of a missing key leaves a delete marker in a versioned bucket.
    ctx.objects.head(refusal).then((found) => (found ? ctx.objects.delete(refusal) : undefined)),
    mapLimited(datasets, STATUS_WRITES_AT_ONCE, (dataset) =>
      report.setStatus(resultFolder, dataset.datasetLabel, {
        status: 'QUEUED',
        reason: waiting,
        input: dataset.datasetKey,
      }),
    ),
    report.certify(
      resultFolder,
      header.submittedAt,
      `submission ${header.submissionKey} accepted: ${datasets.length} dataset(s), instance type ${header.instanceType}` +
        (header.estimatedCostUsd > 0 ? `, estimated cost ${usd(header.estimatedCostUsd)}` : ''),
      ...notes,
    ),
  ]);
  // Only the call that admitted the job says so (a repeated admission admits nothing).
  if (admitted > 0) {
    await sendNotification(ctx, {
      kind: 'BEGIN',
      group: header.group,
      jobId: header.jobId,
      outcome: `accepted: ${datasets.length} dataset(s), instance type ${header.instanceType}`,
      resultsUrl: `s3://${ctx.bucket}/${resultFolder}/`,
    });
  }
  await drainQueue(ctx);
};

const failAll = async (
  ctx: ControlContext,
  datasets: readonly DatasetRecord[],
  reason: string,
): Promise<void> => {
  for (const dataset of datasets) {
    await endDataset(ctx, dataset, 'FAILED', { reason });
  }
};
