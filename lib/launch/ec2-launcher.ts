/**
 * The `ec2` launcher (docs/DESIGN.md "Launchers"): one RunInstances per dataset, from the stack's worker
 * launch template. The call repeats the template's security-relevant settings (IMDSv2 required,
 * terminate on shutdown, encrypted gp3 root that is deleted with the instance) so a changed template
 * cannot weaken them. Capacity errors move on to the next subnet, throttling is retried with backoff,
 * and every final failure is an outcome with a message a person can act on, never a thrown error.
 *
 * The launch role needs, besides what WorkerFleet.grantLaunch gives: `ec2:DescribeImages` (root
 * device of the AMI) and, when the AMI is a `resolve:ssm:` alias, `ssm:GetParameters` on it (EC2
 * resolves the alias with the caller's permissions).
 */
import {
  DescribeImagesCommand,
  type EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  type Tag,
  TerminateInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { errorMessage, errorName, isRetryable as isAwsRetryable } from '../aws-errors';
import { WORKER_TAGS } from './worker-tags';
import { launchClientToken } from './client-token';
import type { LaunchOutcome, LaunchRequest, Launcher } from './launcher';
import type { AccessPointOf } from './efs-access-points';
import { buildUserData, packUserData, readEc2WorkerScript, USER_DATA_LIMIT_BYTES } from './user-data';

export interface Ec2LauncherProps {
  readonly ec2: EC2Client;
  /** The analysis this stack runs; every job launched must belong to it (tags, terminate rights). */
  readonly analysis: string;
  /** The WorkerFleet launch template; its `$Latest` version is used. */
  readonly launchTemplateId: string;
  /** Subnets to try, in order; the next one is tried when one has no capacity. */
  readonly subnetIds: readonly string[];
  /** Group name -> name of the group's worker instance profile (lib/launch/worker-identity.ts). */
  readonly instanceProfiles: Readonly<Record<string, string>>;
  /** The blueprint's AMI: an image id, or a `resolve:ssm:` parameter EC2 resolves at launch. */
  readonly ami: string;
  /** Repeated in the call so a changed template cannot open the workers up. @default - the template's */
  readonly securityGroupIds?: readonly string[];
  /** The template's root volume size; the root is at least this big. @default 30 */
  readonly rootVolumeGiB?: number;
  /** The user-data script for a launch (text, compressed here). @default buildUserData with worker/run-job.sh */
  readonly userData?: (request: LaunchRequest) => string;
  /**
   * `Efs.MountOnEc2Workers`: the analysis file system and each group's access point; the worker
   * mounts its group's at /mnt/efs (the job carries the ids). @default no EFS on EC2 workers
   */
  readonly efs?: { readonly fileSystemId: string; readonly accessPointOf: AccessPointOf };
  /**
   * `Ec2.Spot`: ask for a one-time Spot instance that terminates when reclaimed; where Spot has no
   * capacity, the same subnet's on-demand capacity at once. @default false (on-demand)
   */
  readonly spot?: boolean;
  /** Waits between throttled tries (tests pass an instant one). @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Tries after the first when EC2 throttles or has a transient fault. @default 4 */
  readonly maxThrottleRetries?: number;
  /** First backoff step; each further step doubles, with jitter in its upper half. @default 500 */
  readonly backoffBaseMs?: number;
}

/**
 * Root device used when the AMI is a `resolve:ssm:` alias. DescribeImages takes image ids only, and
 * resolving the alias ourselves would need SSM in the Lambda, so the template's own root device is
 * assumed: right for the Amazon Linux aliases under /aws/service/ami-amazon-linux-latest/ (root
 * /dev/xvda, snapshot smaller than the template's default size). An alias for an image with another
 * root device name would get an extra empty volume instead of a larger root.
 */
export const ALIAS_ROOT_DEVICE = '/dev/xvda';

const TEMPLATE_ROOT_VOLUME_GIB = 30;
const MAX_TAG_VALUE_LENGTH = 256;

/** What an EC2 error means for the launch. */
type ErrorKind =
  /** Throttling, or a fault on AWS's side or on the way (lib/aws-errors.ts): the same request may work in a moment. */
  | 'transient'
  /** This subnet cannot take the instance now; another subnet (another zone) may. */
  | 'no-capacity'
  /** The instance type is not offered in this subnet's zone. */
  | 'not-offered'
  | 'quota'
  | 'ami-unavailable'
  | 'instance-gone'
  | 'token-mismatch'
  | 'other';

const ERROR_KINDS: Readonly<Record<string, ErrorKind>> = {
  InsufficientInstanceCapacity: 'no-capacity',
  InsufficientFreeAddressesInSubnet: 'no-capacity',
  Unsupported: 'not-offered',
  VcpuLimitExceeded: 'quota',
  InstanceLimitExceeded: 'quota',
  'InvalidAMIID.NotFound': 'ami-unavailable',
  'InvalidAMIID.Malformed': 'ami-unavailable',
  'InvalidAMIID.Unavailable': 'ami-unavailable',
  'InvalidInstanceID.NotFound': 'instance-gone',
  'InvalidInstanceID.Malformed': 'instance-gone',
  IdempotentParameterMismatch: 'token-mismatch',
};

/** Codes of a Spot request that Spot cannot serve now, where on-demand capacity may (EC2's API reference). */
const SPOT_UNAVAILABLE = new Set([
  'InsufficientInstanceCapacity',
  'SpotMaxPriceTooLow',
  'MaxSpotInstanceCountExceeded',
  'InsufficientCapacity',
  'Unsupported',
]);

/** Known codes first (capacity errors are server errors too); then the SDK's own classification. */
const errorKind = (error: AwsError): ErrorKind =>
  (Object.hasOwn(ERROR_KINDS, error.code) ? ERROR_KINDS[error.code] : undefined) ??
  (error.retryable ? 'transient' : 'other');

const isRetryable = (error: AwsError): boolean => errorKind(error) === 'transient';

/** What is known about an error from the SDK, whatever its shape. */
interface AwsError {
  readonly code: string;
  readonly message: string;
  /** Throttling or a transient fault, as the SDK classifies it (lib/aws-errors.ts). */
  readonly retryable: boolean;
}

type Attempt<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: AwsError };

interface RootDevice {
  readonly deviceName: string;
  readonly snapshotGiB: number;
}

export class Ec2Launcher implements Launcher {
  readonly kind = 'ec2' as const;
  private readonly props: Ec2LauncherProps;
  private readonly userData: (request: LaunchRequest) => string;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(props: Ec2LauncherProps) {
    this.props = props;
    this.userData = props.userData ?? defaultUserData;
    this.sleep = props.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = props.random ?? Math.random;
  }

  async launch(request: LaunchRequest): Promise<LaunchOutcome> {
    const { job, instanceType } = request;
    const { analysis, subnetIds, instanceProfiles } = this.props;
    if (job.analysis !== analysis) {
      return failed(`this launcher starts workers of analysis "${analysis}", not "${job.analysis}"`);
    }
    if (!Object.hasOwn(instanceProfiles, job.group)) {
      const known = Object.keys(instanceProfiles).join(', ') || 'none';
      return failed(
        `group "${job.group}" has no worker instance profile in this stack (groups with one: ${known}): add the group to the blueprint and redeploy`,
      );
    }
    if (subnetIds.length === 0) return failed('no subnets are configured for EC2 workers');

    const { efs } = this.props;
    let efsAccessPointId: string | undefined;
    if (efs) {
      try {
        efsAccessPointId = await efs.accessPointOf(job.group);
      } catch (error) {
        return retry(`could not look up the group's EFS access point: ${awsError(error).message}`);
      }
      if (efsAccessPointId === undefined) {
        return failed(`group "${job.group}" has no EFS access point in this stack: redeploy the analysis`);
      }
    }
    const withEfs: LaunchRequest =
      efs && efsAccessPointId !== undefined
        ? { ...request, job: { ...job, efsFileSystemId: efs.fileSystemId, efsAccessPointId } }
        : request;
    let userData: Buffer;
    try {
      userData = packUserData(this.userData(withEfs));
    } catch (error) {
      return failed(`could not build the worker's user data: ${awsError(error).message}`);
    }
    if (userData.length > USER_DATA_LIMIT_BYTES) {
      return failed(
        `the worker's user data is ${userData.length} bytes compressed, over EC2's limit of ${USER_DATA_LIMIT_BYTES}: the worker script or the job (COMMAND, keys) is too large`,
      );
    }

    const root = await this.rootDevice(job.region);
    if ('kind' in root) return root;
    const datasetGiB = Math.ceil(Math.max(0, request.datasetSizeGiB ?? 0));
    const volumeSize =
      Math.max(root.snapshotGiB, this.props.rootVolumeGiB ?? TEMPLATE_ROOT_VOLUME_GIB) + datasetGiB;

    const skipped: string[] = [];
    let onlyNotOffered = true;
    const spotFirst = this.props.spot === true && request.capacity !== 'on-demand';
    const spotRefusals: string[] = [];
    for (const subnetId of subnetIds) {
      if (spotFirst) {
        const spotInput = this.runInstancesInput(
          request,
          subnetId,
          root.deviceName,
          volumeSize,
          userData,
          true,
        );
        const spot = await this.withBackoff(() => this.props.ec2.send(new RunInstancesCommand(spotInput)));
        if (spot.ok) {
          const instanceId = spot.value.Instances?.[0]?.InstanceId;
          if (instanceId === undefined) return retry('RunInstances answered without an instance id');
          return { kind: 'launched', launcherId: instanceId, rootVolumeGiB: volumeSize, spot: true };
        }
        // Throttled or faulted through every retry: the whole launch is tried again later.
        if (isRetryable(spot.error))
          return this.launchError(spot.error, request, subnetId, spotInput.ClientToken ?? '');
        // No Spot capacity here (or Spot refused this request): on-demand in the same subnet at once,
        // so a dataset never waits for Spot. A refusal that is not Spot's own fails on-demand too,
        // and is reported from there.
        spotRefusals.push(
          `${subnetId}: ${spot.error.code}${SPOT_UNAVAILABLE.has(spot.error.code) ? '' : ` (${quoteMessage(spot.error.message)})`}`,
        );
      }
      const input = this.runInstancesInput(request, subnetId, root.deviceName, volumeSize, userData, false);
      const result = await this.withBackoff(() => this.props.ec2.send(new RunInstancesCommand(input)));
      if (result.ok) {
        const instanceId = result.value.Instances?.[0]?.InstanceId;
        if (instanceId === undefined) return retry('RunInstances answered without an instance id');
        return {
          kind: 'launched',
          launcherId: instanceId,
          rootVolumeGiB: volumeSize,
          ...(spotRefusals.length > 0
            ? { note: `no Spot capacity (${spotRefusals.join('; ')}): launched on on-demand capacity` }
            : {}),
        };
      }
      const { error } = result;
      const kind = errorKind(error);
      if (kind === 'no-capacity' || kind === 'not-offered') {
        if (kind === 'no-capacity') onlyNotOffered = false;
        skipped.push(`${subnetId}: ${error.code}`);
        continue;
      }
      return this.launchError(error, request, subnetId, input.ClientToken ?? '');
    }
    if (onlyNotOffered) {
      return failed(
        `instance type ${instanceType} is not offered in the Availability Zones of the worker subnets (${skipped.join('; ')}): choose another instance type, or deploy with subnets in zones that offer it`,
      );
    }
    return retry(
      `no capacity for instance type ${instanceType} in any of the ${subnetIds.length} worker subnets (${skipped.join('; ')}); trying again later`,
    );
  }

  async terminate(launcherId: string): Promise<void> {
    const result = await this.withBackoff(() =>
      this.props.ec2.send(new TerminateInstancesCommand({ InstanceIds: [launcherId] })),
    );
    if (result.ok || errorKind(result.error) === 'instance-gone') return;
    throw new Error(
      `could not terminate worker ${launcherId}: ${result.error.code}: ${quoteMessage(result.error.message)}`,
    );
  }

  private runInstancesInput(
    request: LaunchRequest,
    subnetId: string,
    deviceName: string,
    volumeSize: number,
    userData: Buffer,
    spot: boolean,
  ): RunInstancesCommandInput {
    const { job } = request;
    const { analysis } = this.props;
    const tags: Tag[] = [
      {
        Key: 'Name',
        Value: `ncaas ${analysis} ${job.group} ${job.jobId} #${job.datasetIndex}`.slice(
          0,
          MAX_TAG_VALUE_LENGTH,
        ),
      },
      { Key: WORKER_TAGS.analysis, Value: analysis },
      { Key: WORKER_TAGS.group, Value: job.group },
      { Key: WORKER_TAGS.job, Value: job.jobId },
      { Key: WORKER_TAGS.dataset, Value: String(job.datasetIndex) },
    ];
    return {
      LaunchTemplate: { LaunchTemplateId: this.props.launchTemplateId, Version: '$Latest' },
      ImageId: this.props.ami,
      // The SDK types this as the union of the instance types it knew when built; newer ones are valid too.
      InstanceType: request.instanceType as _InstanceType,
      MinCount: 1,
      MaxCount: 1,
      IamInstanceProfile: { Name: this.props.instanceProfiles[job.group] },
      SubnetId: subnetId,
      ...(this.props.securityGroupIds ? { SecurityGroupIds: [...this.props.securityGroupIds] } : {}),
      UserData: userData.toString('base64'),
      ClientToken: launchClientToken({
        analysis,
        group: job.group,
        jobId: job.jobId,
        datasetIndex: job.datasetIndex,
        attempt: request.attempt,
        subnetId,
        spot,
      }),
      // One-time, terminated when reclaimed: the control plane relaunches the dataset on on-demand.
      ...(spot
        ? {
            InstanceMarketOptions: {
              MarketType: 'spot' as const,
              SpotOptions: {
                SpotInstanceType: 'one-time' as const,
                InstanceInterruptionBehavior: 'terminate' as const,
              },
            },
          }
        : {}),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
      // Hop limit 2 as in the template: containers on the worker reach IMDS through one more hop.
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2 },
      InstanceInitiatedShutdownBehavior: 'terminate',
      BlockDeviceMappings: [
        {
          DeviceName: deviceName,
          Ebs: { VolumeSize: volumeSize, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
        },
      ],
    };
  }

  /** The AMI's root device (name, snapshot size), or why there is none to launch from. */
  private async rootDevice(region: string): Promise<RootDevice | LaunchOutcome> {
    const { ami } = this.props;
    if (ami.startsWith('resolve:ssm:')) return { deviceName: ALIAS_ROOT_DEVICE, snapshotGiB: 0 };
    const result = await this.withBackoff(() =>
      this.props.ec2.send(new DescribeImagesCommand({ ImageIds: [ami] })),
    );
    if (!result.ok) {
      const { error } = result;
      if (errorKind(error) === 'ami-unavailable') return failed(amiUnavailable(ami, region, error.code));
      if (isRetryable(error)) return retry(`DescribeImages kept failing (${error.code}); trying again later`);
      return failed(`could not look up the blueprint's AMI ${ami}: ${describeError(error)}`);
    }
    const image = result.value.Images?.find((i) => i.ImageId === ami) ?? result.value.Images?.[0];
    if (image === undefined)
      return failed(amiUnavailable(ami, region, 'no such image visible to this account'));
    if (image.State === 'pending') return retry(`the blueprint's AMI ${ami} is still being created`);
    if (image.State !== undefined && image.State !== 'available') {
      return failed(amiUnavailable(ami, region, `image state "${image.State}"`));
    }
    const mapping = image.BlockDeviceMappings?.find((m) => m.DeviceName === image.RootDeviceName);
    if (image.RootDeviceName === undefined || mapping?.Ebs === undefined) {
      return failed(
        `the blueprint's AMI ${ami} has no EBS root volume (root device type ${image.RootDeviceType ?? 'unknown'}): workers need an EBS-backed AMI`,
      );
    }
    return { deviceName: image.RootDeviceName, snapshotGiB: mapping.Ebs.VolumeSize ?? 0 };
  }

  /** A RunInstances error that no other subnet can help with. */
  private launchError(
    error: AwsError,
    request: LaunchRequest,
    subnetId: string,
    token: string,
  ): LaunchOutcome {
    const { instanceType, job } = request;
    const kind = errorKind(error);
    if (kind === 'transient') {
      return retry(
        `EC2 kept answering ${error.code} to RunInstances for ${instanceType} after ${this.maxRetries() + 1} tries; trying again later`,
      );
    }
    if (kind === 'quota') {
      return failed(
        `this AWS account's vCPU quota for the instance family of ${instanceType} is reached in ${job.region} (${error.code}: ${quoteMessage(error.message)}): an operator must request an increase in Service Quotas (Amazon EC2, "Running On-Demand ... instances" for that family), then the job can be submitted again`,
      );
    }
    if (kind === 'ami-unavailable') return failed(amiUnavailable(this.props.ami, job.region, error.code));
    if (kind === 'token-mismatch') {
      return failed(
        `EC2 refused the launch (IdempotentParameterMismatch): client token ${token} (analysis, group, job, dataset, attempt ${request.attempt} and subnet ${subnetId}) was already used with other parameters, so the launch request of this attempt changed between two tries (instance type, AMI, user data or deadline). An instance may already run for it under its job tags; the watchdog terminates it if it is not the recorded one`,
      );
    }
    return failed(`EC2 refused to launch ${instanceType} in ${subnetId}: ${describeError(error)}`);
  }

  /** Runs `call`, retrying throttling and transient faults with exponential backoff and jitter. */
  private async withBackoff<T>(call: () => Promise<T>): Promise<Attempt<T>> {
    const base = this.props.backoffBaseMs ?? 500;
    for (let retries = 0; ; retries++) {
      try {
        return { ok: true, value: await call() };
      } catch (thrown) {
        const error = awsError(thrown);
        if (!isRetryable(error) || retries >= this.maxRetries()) {
          return { ok: false, error };
        }
        // The upper half of an exponentially growing step: always waits longer than the last time.
        const step = base * 2 ** retries;
        await this.sleep(Math.round(step / 2 + (step / 2) * this.random()));
      }
    }
  }

  private maxRetries(): number {
    return this.props.maxThrottleRetries ?? 4;
  }
}

const failed = (reason: string): LaunchOutcome => ({ kind: 'failed', reason });
const retry = (reason: string): LaunchOutcome => ({ kind: 'retry', reason });

const defaultUserData = (request: LaunchRequest): string =>
  buildUserData({ workerScript: readEc2WorkerScript(), job: request.job });

const amiUnavailable = (ami: string, region: string, detail: string): string =>
  `the blueprint's AMI ${ami} is not available in this account in ${region} (${detail}). A NeuroCAAS AMI usually belongs to the NeuroCAAS account: the analysis developer must build the image in this account and region (or have it shared with this account), put its id in the blueprint's LambdaConfig.AMI and redeploy`;

const describeError = (error: AwsError): string => {
  if (error.code === 'UnauthorizedOperation') {
    // The encoded authorization message is a long opaque blob: the sentence before it says what was denied.
    const plain = error.message.split(/\s*Encoded authorization failure message:/)[0] ?? '';
    return `the launch role is not allowed to do this (UnauthorizedOperation: ${quoteMessage(plain)})`;
  }
  return `${error.code}: ${quoteMessage(error.message)}`;
};

const quoteMessage = (message: string): string => JSON.stringify(message.trim());

const awsError = (thrown: unknown): AwsError => {
  // EC2's query protocol puts the code in `Code` on some errors; the SDK's name is the code otherwise,
  // and a failed connection's is Node's `code` (ECONNRESET).
  const { Code, code: nodeCode } = (thrown ?? {}) as { Code?: unknown; code?: unknown };
  const name = errorName(thrown);
  const code =
    (typeof Code === 'string' ? Code : undefined) ??
    (name && name !== 'Error' ? name : undefined) ??
    (typeof nodeCode === 'string' ? nodeCode : 'Error');
  return { code, message: errorMessage(thrown), retryable: isAwsRetryable(thrown) };
};
