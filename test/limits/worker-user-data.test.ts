/**
 * The EC2 workers' user data, which the launcher builds at run time: measured for the largest job a
 * group can submit, built with the real submission check and job builder.
 */
import { gunzipSync } from 'node:zlib';
import { analysisLogKey, finalReportKey, processResultsPrefix } from '../../lib/layout';
import { buildUserData, packUserData, readEc2WorkerScript } from '../../lib/launch/user-data';
import { AWS_LIMITS } from '../../lib/limits/aws-limits';
import { maximalWorkerJob } from '../../lib/limits/maximal-worker-job';
import { measureWorkerUserData } from '../../lib/limits/worker-user-data-measure';
import { parseSubmission } from '../../lib/submission/parse-submission';
import { configFrom, neurocaasBlueprint } from '../support/synth';

const config = configFrom(neurocaasBlueprint());
const BUCKET = 'test-analysis-databucketdatab8c13c3a-0zkc3szamz0s7';
const group = config.groups.find((g) => g.name === 'lab2');

test('the maximal job: keys of 1,024 bytes, a 100-character timestamp, the longest dataset name the submit check accepts', () => {
  const job = group && maximalWorkerJob(config, group, BUCKET);
  if (!job) throw new Error('no maximal job');
  expect(Buffer.byteLength(job.datasetKey)).toBeGreaterThanOrEqual(1023);
  expect(Buffer.byteLength(job.configKey)).toBe(1024);
  expect(job.jobId).toHaveLength(100);
  expect(job.datasetCount).toBe(config.limits.maxDatasets);
  expect(job.datasetKey.endsWith(`/${job.datasetLabel}`)).toBe(true);
  // The job's longest derived key is at S3's maximum: a longer dataset name would be refused.
  const configName = job.configKey.slice(job.configKey.lastIndexOf('/') + 1);
  const derived = [
    finalReportKey(job.resultFolder, job.datasetLabel),
    analysisLogKey(job.resultFolder, job.datasetLabel),
    `${processResultsPrefix(job.resultFolder)}${job.datasetLabel}/${configName}`,
  ];
  expect(Math.max(...derived.map((k) => Buffer.byteLength(k)))).toBe(1024);
  const accepted = parseSubmission({
    body: JSON.stringify({
      dataname: [job.datasetKey, 'lab2/inputs/second.bin'],
      configname: job.configKey,
      timestamp: job.jobId,
    }),
    key: 'lab2/submissions/submit.json',
    analysis: config,
  });
  expect(accepted.ok).toBe(true);
});

test("the measurement is the launcher's packed user data of that job, for the group with the longest name", () => {
  const job = group && maximalWorkerJob(config, group, BUCKET);
  if (!job) throw new Error('no maximal job');
  const packed = packUserData(buildUserData({ workerScript: readEc2WorkerScript(), job }));
  const { measurements, notes } = measureWorkerUserData(config, BUCKET);
  expect(notes).toEqual([]);
  expect(measurements).toEqual([
    expect.objectContaining({
      name: AWS_LIMITS.userData.name,
      where: 'EC2 worker user data (maximal job of group lab2)',
      value: packed.length,
      maximum: 16_384,
    }),
  ]);
  expect(gunzipSync(packed).toString('utf8')).toContain(Buffer.from(job.datasetKey).toString('base64'));
});

test('Batch workers receive no user data: nothing measured', () => {
  const batch = configFrom(
    neurocaasBlueprint({
      Runtime: 'batch',
      Container: { Image: 'public.ecr.aws/docker/library/busybox:1.36', Vcpus: 1, MemoryMiB: 2048 },
    }),
  );
  expect(measureWorkerUserData(batch, BUCKET)).toEqual({ measurements: [], notes: [] });
});
