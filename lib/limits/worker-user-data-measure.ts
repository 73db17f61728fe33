/**
 * The user data an EC2 worker receives, which the launcher builds at run time (lib/launch/user-data.ts):
 * measured for the maximal job of the group with the longest name (./maximal-worker-job.ts), gzip
 * and all, exactly as the launcher packs it. EC2 runtime only (Batch sends no user data per job).
 */
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { buildUserData, packUserData, readEc2WorkerScript } from '../launch/user-data';
import { AWS_LIMITS } from './aws-limits';
import { type LimitMeasurement, measured } from './limit-measurement';
import { maximalWorkerJob } from './maximal-worker-job';

const FIX =
  "a worker's user data is the worker script (gzip-compressed) and its job: shorten COMMAND, WORKING_DIRECTORY, PipelineName or the longest group name (AffiliateName)";

/** The measurement, or a note saying why there is none. */
export const measureWorkerUserData = (
  config: AnalysisConfig,
  bucket: string,
): { measurements: LimitMeasurement[]; notes: string[] } => {
  if (config.runtime !== 'ec2' || !config.ec2) return { measurements: [], notes: [] };
  const submitting = config.groups.filter((g) => g.userInput);
  if (submitting.length === 0)
    return { measurements: [], notes: ['EC2 worker user data: no group submits jobs'] };
  const group = submitting.reduce((a, b) => (Buffer.byteLength(b.name) > Buffer.byteLength(a.name) ? b : a));
  const job = maximalWorkerJob(config, group, bucket);
  if (!job) {
    return {
      measurements: [],
      notes: [
        `EC2 worker user data: no submission of group ${group.name} passes the submit check; not measured`,
      ],
    };
  }
  const bytes = packUserData(buildUserData({ workerScript: readEc2WorkerScript(), job })).length;
  return {
    measurements: [
      measured(AWS_LIMITS.userData, `EC2 worker user data (maximal job of group ${group.name})`, bytes, FIX),
    ],
    notes: [],
  };
};
