/**
 * `ncaas dev`: the analysis developer's instance for building a worker image.
 *
 * `launch` starts one EC2 instance from the blueprint's AMI (or `--ami`: an image id, a
 * `resolve:ssm:` parameter or a base image alias such as `al2023` or `ubuntu-24.04`) with the dev
 * instance profile (AmazonSSMManagedInstanceCore, never a group's worker role), a security group that
 * must have no inbound rule, IMDSv2 only, no key pair and an encrypted root volume: it is reached with
 * SSM Session Manager (`aws ssm start-session --target <id>`), never an open SSH port. Its tags say
 * whose it is and when it expires; the watchdog stops it after that (`extend` moves the time).
 * `save-ami` makes an image of it and waits for it; `terminate` refuses until an image was saved
 * (`--force` overrides); `use-ami` (./blueprint-ami.ts) points the blueprint at the image.
 *
 * The instance is found by its tags (this analysis, this owner) or named with `--instance`.
 */
import {
  CreateImageCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type Instance,
  type RunInstancesCommandInput,
  type Tag,
} from '@aws-sdk/client-ec2';
import { randomUUID } from 'node:crypto';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { AMI_ID, AMI_SSM_PARAMETER } from '../blueprint/blueprint-schema';
import { DEV_TAGS } from '../launch/dev-instance-tags';
import { CliError, EXIT } from './errors';
import { formatDuration, formatTime, type Output } from './output';

/** Base images by alias: public SSM parameters EC2 resolves at launch, and their root device. */
export const BASE_IMAGES: Readonly<
  Record<string, { readonly parameter: string; readonly rootDevice: string }>
> = {
  al2023: {
    parameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
    rootDevice: '/dev/xvda',
  },
  'al2023-arm64': {
    parameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
    rootDevice: '/dev/xvda',
  },
  'ubuntu-22.04': {
    parameter: '/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id',
    rootDevice: '/dev/sda1',
  },
  'ubuntu-24.04': {
    parameter: '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
    rootDevice: '/dev/sda1',
  },
};

/** Default lifetime of a dev instance, and the most one `launch` or `extend` gives. */
export const DEFAULT_HOURS = 4;
export const MAX_HOURS = 72;
/** Smallest root volume (GiB); larger when the image's snapshot is. */
const MIN_ROOT_GIB = 30;
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

export interface DevTarget {
  readonly ec2: EC2Client;
  /** The analysis (the blueprint's PipelineName). */
  readonly analysis: string;
  /** Who the instance belongs to. */
  readonly owner: string;
  readonly now?: () => Date;
  /** Waits between polls (save-ami). */
  readonly sleep?: (ms: number) => Promise<void>;
}

const nowOf = (target: DevTarget): Date => (target.now ?? (() => new Date()))();

/** `--hours`: a positive number of hours, at most MAX_HOURS. */
export const parseHours = (value: string | undefined, fallback: number = DEFAULT_HOURS): number => {
  if (value === undefined) return fallback;
  const hours = Number(value);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(value) || !(hours > 0) || hours > MAX_HOURS) {
    throw new CliError(`--hours "${value}" is not a number of hours from 0 to ${MAX_HOURS}`, EXIT.usage);
  }
  return hours;
};

export interface ImageChoice {
  /** What RunInstances gets: an image id or `resolve:ssm:/...`. */
  readonly imageId: string;
  /** Known without DescribeImages (aliases). */
  readonly rootDevice?: string;
  /** For messages: where the image came from. */
  readonly source: string;
}

/** `--ami` (id, resolve:ssm:, alias), else the blueprint's AMI. */
export const chooseImage = (ami: string | undefined, config: AnalysisConfig): ImageChoice => {
  if (ami === undefined) {
    if (config.ec2 === undefined) {
      throw new CliError(
        `the blueprint of ${config.name} names no AMI: pass --ami <ami-id|${Object.keys(BASE_IMAGES).join('|')}>`,
        EXIT.usage,
      );
    }
    const alias = Object.values(BASE_IMAGES).find((b) => `resolve:ssm:${b.parameter}` === config.ec2?.ami);
    return {
      imageId: config.ec2.ami,
      ...(alias ? { rootDevice: alias.rootDevice } : {}),
      source: "the blueprint's AMI",
    };
  }
  const base = BASE_IMAGES[ami];
  if (base)
    return {
      imageId: `resolve:ssm:${base.parameter}`,
      rootDevice: base.rootDevice,
      source: `base image ${ami}`,
    };
  if (AMI_ID.test(ami) || AMI_SSM_PARAMETER.test(ami)) return { imageId: ami, source: ami };
  throw new CliError(
    `--ami "${ami}" is not an image id (ami-...), a resolve:ssm:/ parameter or a base image (${Object.keys(BASE_IMAGES).join(', ')})`,
    EXIT.usage,
  );
};

export interface LaunchDevOptions {
  readonly config: AnalysisConfig;
  readonly ami?: string;
  readonly hours?: number;
  readonly instanceType?: string;
  /** The dev instance profile's name (the stack output DevInstance). */
  readonly instanceProfile: string;
  /** A security group with no inbound rule (the stack output DevInstance). */
  readonly securityGroup: string;
  readonly subnet?: string;
  readonly rootVolumeGiB?: number;
}

const tagsOf = (instance: Instance): Record<string, string> =>
  Object.fromEntries(
    (instance.Tags ?? [])
      .filter((t): t is Required<Tag> => t.Key !== undefined && t.Value !== undefined)
      .map((t) => [t.Key, t.Value]),
  );

/** The RunInstances request of a dev instance (pure: tests check it field by field). */
export const devRunInstances = (
  target: DevTarget,
  options: LaunchDevOptions,
  image: ImageChoice,
  root: { readonly deviceName: string; readonly sizeGiB: number } | undefined,
  clientToken: string = randomUUID(),
): RunInstancesCommandInput => {
  const expires = new Date(nowOf(target).getTime() + (options.hours ?? DEFAULT_HOURS) * 3_600_000);
  const tags: Tag[] = [
    { Key: 'Name', Value: `ncaas-dev ${target.analysis} ${target.owner}`.slice(0, 256) },
    { Key: DEV_TAGS.analysis, Value: target.analysis },
    { Key: DEV_TAGS.owner, Value: target.owner },
    { Key: DEV_TAGS.expires, Value: expires.toISOString() },
  ];
  const instanceType = options.instanceType ?? options.config.ec2?.instanceType;
  if (instanceType === undefined) throw new CliError('no instance type: pass --instance-type', EXIT.usage);
  return {
    ImageId: image.imageId,
    // The SDK types this as the instance types it knew when built; newer ones are valid too.
    InstanceType: instanceType as _InstanceType,
    MinCount: 1,
    MaxCount: 1,
    ClientToken: clientToken,
    IamInstanceProfile: { Name: options.instanceProfile },
    SecurityGroupIds: [options.securityGroup],
    ...(options.subnet !== undefined ? { SubnetId: options.subnet } : {}),
    // No KeyName: the way in is SSM Session Manager, not SSH.
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2 },
    // A `shutdown` inside the instance must not lose the work that is not saved as an image yet.
    InstanceInitiatedShutdownBehavior: 'stop',
    ...(root !== undefined
      ? {
          BlockDeviceMappings: [
            {
              DeviceName: root.deviceName,
              Ebs: {
                VolumeSize: root.sizeGiB,
                VolumeType: 'gp3',
                Encrypted: true,
                DeleteOnTermination: true,
              },
            },
          ],
        }
      : {}),
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tags },
      { ResourceType: 'volume', Tags: tags },
    ],
  };
};

/** The image's root device and size (DescribeImages), for an encrypted root of at least its snapshot. */
const rootOf = async (
  target: DevTarget,
  image: ImageChoice,
  minGiB: number,
): Promise<{ deviceName: string; sizeGiB: number } | undefined> => {
  if (image.rootDevice !== undefined) return { deviceName: image.rootDevice, sizeGiB: minGiB };
  if (!image.imageId.startsWith('ami-')) return undefined;
  const out = await target.ec2.send(new DescribeImagesCommand({ ImageIds: [image.imageId] }));
  const found = out.Images?.[0];
  if (found === undefined) {
    throw new CliError(
      `image ${image.imageId} is not visible to this account in this region (an AMI of another account or region must be copied first)`,
      EXIT.failed,
    );
  }
  const mapping = found.BlockDeviceMappings?.find((m) => m.DeviceName === found.RootDeviceName);
  if (found.RootDeviceName === undefined || mapping?.Ebs === undefined) return undefined;
  return { deviceName: found.RootDeviceName, sizeGiB: Math.max(minGiB, mapping.Ebs.VolumeSize ?? 0) };
};

/** The security group exists and lets nothing in. */
const checkNoIngress = async (target: DevTarget, groupId: string): Promise<void> => {
  const out = await target.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  const group = out.SecurityGroups?.[0];
  if (group === undefined) throw new CliError(`security group ${groupId} does not exist`, EXIT.usage);
  if ((group.IpPermissions ?? []).length > 0) {
    throw new CliError(
      `security group ${groupId} allows inbound traffic: a dev instance is reached through SSM Session Manager, so give a group with no inbound rule (the stack output DevInstance names one)`,
      EXIT.usage,
    );
  }
};

/** The owner's live dev instances of this analysis, newest first. */
export const listDevInstances = async (target: DevTarget): Promise<Instance[]> => {
  const instances: Instance[] = [];
  let token: string | undefined;
  do {
    const out = await target.ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${DEV_TAGS.analysis}`, Values: [target.analysis] },
          { Name: `tag:${DEV_TAGS.owner}`, Values: [target.owner] },
          { Name: 'instance-state-name', Values: LIVE_STATES },
        ],
        ...(token !== undefined ? { NextToken: token } : {}),
      }),
    );
    for (const r of out.Reservations ?? []) instances.push(...(r.Instances ?? []));
    token = out.NextToken;
  } while (token);
  return instances.sort((a, b) => (b.LaunchTime?.getTime() ?? 0) - (a.LaunchTime?.getTime() ?? 0));
};

/** The dev instance a command is about: `--instance`, else the owner's only one. */
export const findDevInstance = async (target: DevTarget, instanceId?: string): Promise<Instance> => {
  if (instanceId !== undefined) {
    const out = await target.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = out.Reservations?.[0]?.Instances?.[0];
    const tags = instance ? tagsOf(instance) : {};
    if (instance === undefined || tags[DEV_TAGS.analysis] !== target.analysis) {
      throw new CliError(`${instanceId} is not a dev instance of ${target.analysis}`, EXIT.usage);
    }
    return instance;
  }
  const instances = await listDevInstances(target);
  if (instances.length === 0) {
    throw new CliError(
      `${target.owner} has no dev instance of ${target.analysis}: start one with \`ncaas dev launch\``,
      EXIT.usage,
    );
  }
  if (instances.length > 1) {
    throw new CliError(
      `${target.owner} has ${instances.length} dev instances of ${target.analysis} (${instances.map((i) => i.InstanceId).join(', ')}): pass --instance <id>`,
      EXIT.usage,
    );
  }
  return instances[0];
};

export interface DevStatus {
  readonly instanceId: string;
  readonly state: string;
  readonly instanceType?: string;
  readonly imageId?: string;
  readonly launchedAt?: Date;
  readonly expires?: Date;
  /** Milliseconds until the expiry (negative: past). */
  readonly leftMs?: number;
  readonly savedAmi?: string;
  /** The watchdog stopped it past its expiry: when and why. */
  readonly stoppedByWatchdog?: string;
}

export const devStatusOf = (target: DevTarget, instance: Instance): DevStatus => {
  const tags = tagsOf(instance);
  const expires = tags[DEV_TAGS.expires] ? new Date(tags[DEV_TAGS.expires]) : undefined;
  const valid = expires !== undefined && !Number.isNaN(expires.getTime()) ? expires : undefined;
  return {
    instanceId: instance.InstanceId ?? '?',
    state: instance.State?.Name ?? 'unknown',
    ...(instance.InstanceType !== undefined ? { instanceType: instance.InstanceType } : {}),
    ...(instance.ImageId !== undefined ? { imageId: instance.ImageId } : {}),
    ...(instance.LaunchTime !== undefined ? { launchedAt: instance.LaunchTime } : {}),
    ...(valid !== undefined ? { expires: valid, leftMs: valid.getTime() - nowOf(target).getTime() } : {}),
    ...(tags[DEV_TAGS.savedAmi] ? { savedAmi: tags[DEV_TAGS.savedAmi] } : {}),
    ...(tags[DEV_TAGS.stoppedByWatchdog] ? { stoppedByWatchdog: tags[DEV_TAGS.stoppedByWatchdog] } : {}),
  };
};

const sessionHint = (instanceId: string): string =>
  `connect: aws ssm start-session --target ${instanceId}   (needs the Session Manager plugin for the AWS CLI)`;

// ---- the commands --------------------------------------------------------------------------------

export const runDevLaunch = async (
  target: DevTarget,
  options: LaunchDevOptions,
  output: Output,
): Promise<number> => {
  const existing = await listDevInstances(target);
  if (existing.length > 0) {
    throw new CliError(
      `${target.owner} already has a dev instance of ${target.analysis}: ${existing.map((i) => `${i.InstanceId} (${i.State?.Name})`).join(', ')}; use it, or terminate it first`,
      EXIT.usage,
    );
  }
  const image = chooseImage(options.ami, options.config);
  await checkNoIngress(target, options.securityGroup);
  const root = await rootOf(target, image, Math.max(MIN_ROOT_GIB, options.rootVolumeGiB ?? 0));
  if (root === undefined) {
    output.err(
      `note: the root device of ${image.imageId} is not known here: its volume is encrypted only if the account encrypts EBS by default`,
    );
  }
  const input = devRunInstances(target, options, image, root);
  const out = await target.ec2.send(new RunInstancesCommand(input));
  const instance = out.Instances?.[0];
  if (instance?.InstanceId === undefined) throw new CliError('EC2 started no instance', EXIT.failed);
  const status = devStatusOf(target, { ...instance, Tags: input.TagSpecifications?.[0].Tags });
  output.err(
    `launched ${instance.InstanceId} (${input.InstanceType}, ${image.source === image.imageId ? image.imageId : `${image.source}: ${image.imageId}`}) for ${target.owner}; it is stopped at ${formatTime(status.expires)} unless extended`,
  );
  output.err(sessionHint(instance.InstanceId));
  output.out(instance.InstanceId);
  return EXIT.ok;
};

export const runDevStatus = async (
  target: DevTarget,
  options: { readonly instance?: string; readonly json?: boolean },
  output: Output,
): Promise<number> => {
  const status = devStatusOf(target, await findDevInstance(target, options.instance));
  if (options.json) {
    output.out(
      JSON.stringify({
        ...status,
        expires: status.expires?.toISOString(),
        launchedAt: status.launchedAt?.toISOString(),
      }),
    );
    return EXIT.ok;
  }
  const left =
    status.leftMs === undefined
      ? 'no expiry tag'
      : status.leftMs > 0
        ? `${formatDuration(status.leftMs)} left (until ${formatTime(status.expires)})`
        : `expired at ${formatTime(status.expires)}`;
  output.out(
    `${status.instanceId}  ${output.paint.state(status.state)}  ${status.instanceType ?? ''}  ${left}`,
  );
  output.out(
    `image: ${status.imageId ?? '?'}; saved AMI: ${status.savedAmi ?? 'none yet (ncaas dev save-ami NAME)'}`,
  );
  if (status.stoppedByWatchdog !== undefined && status.state !== 'running') {
    output.out(
      `the watchdog stopped it: ${status.stoppedByWatchdog}; \`ncaas dev extend HOURS\` then \`ncaas dev start\``,
    );
  }
  if (status.state === 'running') output.err(sessionHint(status.instanceId));
  return EXIT.ok;
};

export const runDevExtend = async (
  target: DevTarget,
  options: { readonly instance?: string; readonly hours: number },
  output: Output,
): Promise<number> => {
  const instance = await findDevInstance(target, options.instance);
  const status = devStatusOf(target, instance);
  const now = nowOf(target).getTime();
  // From the current expiry, or from now when it has passed.
  const from = Math.max(now, status.expires?.getTime() ?? now);
  const expires = new Date(Math.min(from + options.hours * 3_600_000, now + MAX_HOURS * 3_600_000));
  await target.ec2.send(
    new CreateTagsCommand({
      Resources: [status.instanceId],
      Tags: [{ Key: DEV_TAGS.expires, Value: expires.toISOString() }],
    }),
  );
  output.out(
    `${status.instanceId} now expires at ${formatTime(expires)} (${formatDuration(expires.getTime() - now)} from now)`,
  );
  return EXIT.ok;
};

export const runDevStop = async (
  target: DevTarget,
  options: { readonly instance?: string },
  output: Output,
): Promise<number> => {
  const status = devStatusOf(target, await findDevInstance(target, options.instance));
  await target.ec2.send(new StopInstancesCommand({ InstanceIds: [status.instanceId] }));
  output.out(`${status.instanceId} is stopping (its volume is kept; \`ncaas dev start\` resumes it)`);
  return EXIT.ok;
};

export const runDevStart = async (
  target: DevTarget,
  options: { readonly instance?: string },
  output: Output,
): Promise<number> => {
  const status = devStatusOf(target, await findDevInstance(target, options.instance));
  if (status.leftMs !== undefined && status.leftMs <= 0) {
    throw new CliError(
      `${status.instanceId} expired at ${formatTime(status.expires)}: the watchdog would stop it again; \`ncaas dev extend HOURS\` first`,
      EXIT.usage,
    );
  }
  await target.ec2.send(new StartInstancesCommand({ InstanceIds: [status.instanceId] }));
  output.out(`${status.instanceId} is starting`);
  output.err(sessionHint(status.instanceId));
  return EXIT.ok;
};

export const runDevTerminate = async (
  target: DevTarget,
  options: { readonly instance?: string; readonly force?: boolean },
  output: Output,
): Promise<number> => {
  const status = devStatusOf(target, await findDevInstance(target, options.instance));
  if (status.savedAmi === undefined && !options.force) {
    throw new CliError(
      `${status.instanceId} has no saved AMI: its work would be lost. \`ncaas dev save-ami NAME\` first, or pass --force`,
      EXIT.usage,
    );
  }
  await target.ec2.send(new TerminateInstancesCommand({ InstanceIds: [status.instanceId] }));
  output.out(
    `${status.instanceId} is terminating${status.savedAmi !== undefined ? ` (its last saved AMI: ${status.savedAmi})` : ' (no AMI was saved: --force)'}`,
  );
  return EXIT.ok;
};

export interface SaveAmiOptions {
  readonly name: string;
  readonly instance?: string;
  /** Return once the image is requested, without waiting for it. */
  readonly noWait?: boolean;
  /** Waiting for the image ends after this. @default 60 minutes */
  readonly timeoutMs?: number;
  /** Between two looks at the image. @default 15 s */
  readonly pollMs?: number;
}

/** AMI names: 3-128 characters of letters, digits, ( ) [ ] space . / - ' @ _ (EC2's rule). */
const AMI_NAME = /^[A-Za-z0-9()[\] ./'@_-]{3,128}$/;

export const runDevSaveAmi = async (
  target: DevTarget,
  options: SaveAmiOptions,
  output: Output,
): Promise<number> => {
  if (!AMI_NAME.test(options.name)) {
    throw new CliError(
      `"${options.name}" cannot name an AMI: 3 to 128 letters, digits, spaces and ( ) [ ] . / - ' @ _`,
      EXIT.usage,
    );
  }
  const status = devStatusOf(target, await findDevInstance(target, options.instance));
  const tags: Tag[] = [
    { Key: 'Name', Value: options.name },
    { Key: DEV_TAGS.analysis, Value: target.analysis },
    { Key: DEV_TAGS.owner, Value: target.owner },
    { Key: 'ncaas:dev-source-instance', Value: status.instanceId },
  ];
  const out = await target.ec2.send(
    new CreateImageCommand({
      InstanceId: status.instanceId,
      Name: options.name,
      Description:
        `ncaas ${target.analysis}: saved from dev instance ${status.instanceId} by ${target.owner}`.slice(
          0,
          255,
        ),
      // A reboot makes the file systems consistent in the image.
      NoReboot: false,
      TagSpecifications: [
        { ResourceType: 'image', Tags: tags },
        { ResourceType: 'snapshot', Tags: tags },
      ],
    }),
  );
  const imageId = out.ImageId;
  if (imageId === undefined) throw new CliError('EC2 returned no image id', EXIT.failed);
  await target.ec2.send(
    new CreateTagsCommand({
      Resources: [status.instanceId],
      Tags: [{ Key: DEV_TAGS.savedAmi, Value: imageId }],
    }),
  );
  output.err(`creating ${imageId} "${options.name}" from ${status.instanceId} (the instance reboots once)`);
  if (!options.noWait) {
    const sleep = target.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const deadline = nowOf(target).getTime() + (options.timeoutMs ?? 60 * 60_000);
    for (;;) {
      const images = await target.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
      const state = images.Images?.[0]?.State ?? 'pending';
      if (state === 'available') break;
      if (state !== 'pending') {
        const reason = images.Images?.[0]?.StateReason?.Message;
        throw new CliError(`image ${imageId} is ${state}${reason ? `: ${reason}` : ''}`, EXIT.failed);
      }
      if (nowOf(target).getTime() >= deadline) {
        throw new CliError(
          `image ${imageId} is still pending; look again with \`aws ec2 describe-images --image-ids ${imageId}\``,
          EXIT.failed,
        );
      }
      output.live(`waiting for ${imageId} to be available`);
      await sleep(options.pollMs ?? 15_000);
    }
    output.clearLive();
    output.err(`${imageId} is available: \`ncaas dev use-ami ${imageId}\` points the blueprint at it`);
  }
  output.out(imageId);
  return EXIT.ok;
};

/** The AMI `use-ami` uses when none is given: the last one saved from the owner's dev instance. */
export const lastSavedAmi = async (
  target: DevTarget,
  instanceId?: string,
): Promise<{ ami: string; instanceId: string }> => {
  const status = devStatusOf(target, await findDevInstance(target, instanceId));
  if (status.savedAmi === undefined) {
    throw new CliError(
      `${status.instanceId} has no saved AMI: name one (ncaas dev use-ami ami-...) or save one first`,
      EXIT.usage,
    );
  }
  return { ami: status.savedAmi, instanceId: status.instanceId };
};
