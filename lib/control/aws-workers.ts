/**
 * The AWS side of workers: the EC2 or Batch launcher, the analysis containers' logs, and what EC2
 * knows of instances. The launch, reconcile and watchdog handlers build it at start; the submit
 * handler loads this module only on its first cancel (lib/control/aws-context.ts), so its cold start
 * never loads the EC2, Batch, EFS or CloudWatch Logs clients.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EFSClient } from '@aws-sdk/client-efs';
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import type { HandlerEnvironment } from '../handler-environment';
import { AwsBatchApi } from '../launch/batch-api';
import { BatchLauncher, namedJobDefinitions } from '../launch/batch-launcher';
import { BATCH_LOG_GROUP } from '../launch/batch-stages';
import { DEV_TAGS } from '../launch/dev-instance-tags';
import { Ec2Launcher } from '../launch/ec2-launcher';
import { efsAccessPointLookup } from '../launch/efs-access-points';
import { launcherKindOf, type Launcher } from '../launch/launcher';
import { workerInstanceProfileName } from '../launch/worker-identity';
import { WORKER_TAGS } from '../launch/worker-tags';
import { CloudWatchLogSource } from './cloudwatch-log-source';
import type { ContainerLogSource } from './container-log';
import type { WorkerIdentity } from './control-context';
import type { DevInstanceSource, DevInstanceState } from './dev-expiry';
import type { RunningWorker } from './watchdog';
import { isNamed } from '../aws-error-names';

let ec2: EC2Client | undefined;
/** One EC2 client per container, made on first use. */
export const ec2Client = (): EC2Client => (ec2 ??= new EC2Client({}));

export interface AwsWorkers {
  /** Starts and stops workers; absent when the blueprint gives its runtime nothing to launch. */
  readonly launcher?: Launcher;
  /** The batch runtime's launcher (stage-outs, job details), when the blueprint's runtime is batch. */
  readonly batch?: BatchLauncher;
  /** The analysis containers' CloudWatch log streams, when the blueprint's runtime is batch. */
  readonly containerLogs?: ContainerLogSource;
}

export const awsWorkers = (env: HandlerEnvironment, config: AnalysisConfig): AwsWorkers => {
  const kind = launcherKindOf(config.runtime, {
    batchJobQueue: Boolean(env.NCAAS_BATCH_JOB_QUEUE),
    ec2Settings: config.ec2 !== undefined,
  });
  if (kind === 'batch' && env.NCAAS_BATCH_JOB_QUEUE) {
    const batch = new BatchLauncher({
      api: new AwsBatchApi(new BatchClient({})),
      analysis: config.name,
      jobQueue: env.NCAAS_BATCH_JOB_QUEUE,
      ...(env.NCAAS_BATCH_ON_DEMAND_JOB_QUEUE
        ? { onDemandJobQueue: env.NCAAS_BATCH_ON_DEMAND_JOB_QUEUE }
        : {}),
      jobDefinitions: namedJobDefinitions(config.name, config.groups),
    });
    const containerLogs = new CloudWatchLogSource({
      // One attempt per request: CloudWatchLogSource retries, within the copy's time limit.
      client: new CloudWatchLogsClient({ maxAttempts: 1 }),
      logGroup: BATCH_LOG_GROUP,
      region: config.region,
    });
    return { launcher: batch, batch, containerLogs };
  }
  if (kind === 'ec2' && config.ec2) {
    return {
      launcher: new Ec2Launcher({
        // One attempt per request: the launcher's own backoff is the only retry layer, so a throttled
        // RunInstances is tried maxThrottleRetries + 1 times, not that times the SDK's 3.
        ec2: new EC2Client({ maxAttempts: 1 }),
        analysis: config.name,
        launchTemplateId: env.NCAAS_LAUNCH_TEMPLATE_ID ?? '',
        subnetIds: JSON.parse(env.NCAAS_SUBNET_IDS ?? '[]') as string[],
        instanceProfiles: Object.fromEntries(
          config.groups.map((g) => [g.name, workerInstanceProfileName(config.name, config.region, g.name)]),
        ),
        ami: config.ec2.ami,
        ...(config.ec2.spot ? { spot: true } : {}),
        ...(env.NCAAS_EFS_FILE_SYSTEM_ID
          ? {
              efs: {
                fileSystemId: env.NCAAS_EFS_FILE_SYSTEM_ID,
                accessPointOf: efsAccessPointLookup(
                  new EFSClient({}),
                  env.NCAAS_EFS_FILE_SYSTEM_ID,
                  config.name,
                ),
              },
            }
          : {}),
      }),
    };
  }
  return {};
};

const tagsOf = (tags: { Key?: string; Value?: string }[] | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).filter((t) => t.Key && t.Value !== undefined).map((t) => [t.Key, t.Value]));

/** The dataset an instance runs, from the tags the launcher put on it. */
export const identifyInstance = async (
  ec2: EC2Client,
  analysis: string,
  instanceId: string,
): Promise<WorkerIdentity | undefined> => {
  try {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const tags = tagsOf(out.Reservations?.[0]?.Instances?.[0]?.Tags);
    const datasetIndex = Number(tags[WORKER_TAGS.dataset]);
    if (tags[WORKER_TAGS.analysis] !== analysis || !tags[WORKER_TAGS.group] || !tags[WORKER_TAGS.job])
      return undefined;
    if (!Number.isInteger(datasetIndex)) return undefined;
    return { group: tags[WORKER_TAGS.group], jobId: tags[WORKER_TAGS.job], datasetIndex };
  } catch (error) {
    if (isNamed(error, 'InvalidInstanceID.NotFound')) return undefined;
    throw error;
  }
};

/** Instances tagged with this analysis that still exist (for the watchdog's orphan sweep). */
/**
 * This analysis's workers, as EC2 knows them: launched from its launch template (the
 * `aws:ec2launchtemplate:id` tag, which EC2 sets and nobody can edit or add) and tagged with its name.
 * An instance that only carries our tag (anyone who may tag could add it) is never listed, so the
 * watchdog never terminates it as an orphan.
 */
export const listWorkerInstances = async (
  ec2: EC2Client,
  analysis: string,
  launchTemplateId: string,
): Promise<RunningWorker[]> => {
  const workers: RunningWorker[] = [];
  let token: string | undefined;
  do {
    const out = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${WORKER_TAGS.analysis}`, Values: [analysis] },
          { Name: 'tag:aws:ec2launchtemplate:id', Values: [launchTemplateId] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
        NextToken: token,
      }),
    );
    for (const reservation of out.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) {
        if (instance.InstanceId) {
          workers.push({
            launcherId: instance.InstanceId,
            launchedAt: instance.LaunchTime ?? new Date(0),
            state: instance.State?.Name,
          });
        }
      }
    }
    token = out.NextToken;
  } while (token);
  return workers;
};

/** This analysis's running dev instances by tag; stopping one also tags it with why. */
export const devInstanceSource = (ec2: EC2Client, analysis: string): DevInstanceSource => ({
  list: async () => {
    const found: DevInstanceState[] = [];
    let token: string | undefined;
    do {
      const out = await ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: `tag:${DEV_TAGS.analysis}`, Values: [analysis] },
            { Name: 'instance-state-name', Values: ['pending', 'running'] },
          ],
          NextToken: token,
        }),
      );
      for (const reservation of out.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          if (!instance.InstanceId) continue;
          const tags = tagsOf(instance.Tags);
          found.push({
            instanceId: instance.InstanceId,
            ...(tags[DEV_TAGS.owner] !== undefined ? { owner: tags[DEV_TAGS.owner] } : {}),
            ...(tags[DEV_TAGS.expires] !== undefined ? { expires: tags[DEV_TAGS.expires] } : {}),
          });
        }
      }
      token = out.NextToken;
    } while (token);
    return found;
  },
  stop: async (instanceId, note) => {
    await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    await ec2.send(
      new CreateTagsCommand({
        Resources: [instanceId],
        Tags: [{ Key: DEV_TAGS.stoppedByWatchdog, Value: note }],
      }),
    );
  },
});
