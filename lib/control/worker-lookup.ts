/** Which dataset a worker (an EC2 instance, a Batch job, a local process) belongs to. */
import type { DatasetRecord } from '../job/job-store';
import type { ControlContext } from './control-context';

/** The dataset a worker belongs to: by the table's launcher index, else by the worker's own tags. */
export const findDatasetOfWorker = async (
  ctx: ControlContext,
  launcherId: string,
): Promise<DatasetRecord | undefined> => {
  const known = await ctx.store.findByLauncher(launcherId);
  if (known) return known;
  const identity = await ctx.identifyWorker?.(launcherId);
  if (!identity) return undefined;
  const dataset = await ctx.store.getDataset(identity, identity.datasetIndex);
  if (dataset && !dataset.launcherId) {
    // The launcher died between RunInstances and recording the id: record it now.
    await ctx.store.setLauncher(identity, identity.datasetIndex, launcherId, Math.max(1, dataset.attempt));
  }
  return dataset;
};
