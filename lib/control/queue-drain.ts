/**
 * The drain that starts queued datasets oldest first while DEPLOY_LIMIT allows. It runs wherever a
 * slot may have freed or a job arrived (admission, a dataset's end, the watchdog); slots are counted
 * with conditional writes, so concurrent drains never exceed the limit. Its own module, so admission
 * and a dataset's end (./dataset-finish.ts) both use it without importing each other.
 */
import { jobResultFolder } from '../layout';
import type { ControlContext } from './control-context';

/** Starts queued datasets, oldest first, while a worker slot is free. Returns how many it started. */
export const drainQueue = async (ctx: ControlContext): Promise<number> => {
  const { store, config } = ctx;
  let started = 0;
  for (;;) {
    const queued = await store.listQueued(DRAIN_PAGE);
    if (queued.length === 0) return started;
    let progressed = false;
    let released = false;
    for (const dataset of queued) {
      if (!(await store.counters.acquireSlot(config.deployLimit))) return started;
      // The deadline is fixed here, once: every retry of this attempt sends the same user data, which its
      // RunInstances ClientToken requires, and the watchdog enforces the same time the worker arms.
      const deadline = new Date(ctx.now().getTime() + config.workerTimeoutSeconds * 1000).toISOString();
      const t = await store.transition(dataset, dataset.datasetIndex, 'INITIALIZING', { deadline });
      if (!t.applied) {
        // Someone else started (or cancelled) it between the listing and now.
        await store.counters.releaseSlot();
        released = true;
        continue;
      }
      progressed = true;
      started += 1;
      // Said before the message is sent, so the launcher's own lines come after these.
      const resultFolder = jobResultFolder(dataset.group, config.name, dataset.jobId);
      await Promise.all([
        ctx.report.setStatus(resultFolder, dataset.datasetLabel, {
          status: 'INITIALIZING',
          reason: 'a worker is being launched',
          input: dataset.datasetKey,
        }),
        ctx.report.certify(
          resultFolder,
          dataset.submittedAt,
          `dataset ${dataset.datasetKey}: launch requested`,
        ),
      ]);
      await ctx.launchQueue.send({
        analysis: config.name,
        group: dataset.group,
        jobId: dataset.jobId,
        datasetIndex: dataset.datasetIndex,
        attempt: dataset.attempt + 1,
      });
    }
    // A slot given back may be the one another drain was refused meanwhile (it then returned,
    // leaving its dataset queued): list again. Otherwise a short page was the whole queue as it
    // stood, and a dataset queued since is drained by its own admission, which lists after queueing
    // it; this call's slots all went to datasets it started, so that drain was refused none of them.
    if (!released && (!progressed || queued.length < DRAIN_PAGE)) return started;
  }
};

/** How many queued datasets one listing reads. */
const DRAIN_PAGE = 10;
