/**
 * The only code that reads blueprint JSON: parses it with the schema, reports every problem at once
 * (file, JSON path, what is expected), names ignored NeuroCAAS keys, and returns the typed config.
 */
import { nearMatches } from '../near-match';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as z from 'zod';
import type {
  AnalysisConfig,
  GroupConfig,
  GroupNotificationConfig,
  NotificationEvent,
} from './analysis-config';
import {
  affiliateNames,
  blueprintSchema,
  BlueprintData,
  LEGACY_KEYS,
  notAGroupMessage,
  notARemoteGroupMessage,
} from './blueprint-schema';
import { BlueprintError, type BlueprintProblem } from './blueprint-error';

export { BlueprintError, type BlueprintProblem } from './blueprint-error';

export type ParseResult =
  | { readonly ok: true; readonly config: AnalysisConfig }
  | { readonly ok: false; readonly problems: readonly BlueprintProblem[] };

const DEFAULTS = {
  launchTimeoutSeconds: 900,
  workerTimeoutSeconds: 86_400,
  deployLimit: 10,
  maxCostUsd: 300,
  maxDatasetSizeGiB: 500,
  maxDatasets: 100,
  batch: {
    vcpus: 2,
    memoryMiB: 4096,
    // Batch cannot override an image's ENTRYPOINT, and the AWS CLI's own image has `aws` as its
    // entrypoint, so the stages could not run `sh` in it. AWS's SAM build image has the AWS CLI v2,
    // sh, coreutils, gzip and awk, and an empty ENTRYPOINT (aws/aws-sam-build-images); it is large
    // (pulled once per instance): a slimmer image of one's own can be named in Container.StagingImage.
    stagingImage: 'public.ecr.aws/sam/build-python3.12:latest',
  },
  notificationEvents: ['BEGIN', 'END', 'FAIL'] as NotificationEvent[],
};

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** `blueprints/<name>.json` for a bare name, else the path as given (relative to cwd). */
export const resolveBlueprintPath = (nameOrPath: string, blueprintsDir: string): string => {
  const looksLikePath = nameOrPath.includes('/') || nameOrPath.includes('\\') || nameOrPath.endsWith('.json');
  return looksLikePath ? path.resolve(nameOrPath) : path.join(blueprintsDir, `${nameOrPath}.json`);
};

/** The blueprint `cdk synth` / `deploy` uses without `-c blueprint=`. */
export const DEFAULT_BLUEPRINT = 'mock';

/**
 * The line the CDK app prints on stderr before it loads the blueprint, so a deploy always says which
 * file it deployed: `ncaas: blueprint blueprints/mock.json (default; pass -c blueprint=<name|path>
 * for another)`. `requested` is the context's `blueprint` (undefined: none given); the file is shown
 * relative to `cwd` when it is inside it.
 */
export const blueprintNotice = (
  requested: string | undefined,
  file: string,
  cwd: string = process.cwd(),
): string => {
  const relative = path.relative(cwd, file);
  const shown = relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
  return requested === undefined
    ? `ncaas: blueprint ${shown} (default; pass -c blueprint=<name|path> for another)`
    : `ncaas: blueprint ${shown} (-c blueprint=${requested})`;
};

/** Reads and parses a blueprint file; throws BlueprintError listing every problem. */
export const loadBlueprintFile = (file: string): AnalysisConfig => {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err);
    throw new BlueprintError(file, [{ path: '', message: `cannot read the blueprint: ${reason}` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new BlueprintError(file, [{ path: '', message: `not valid JSON: ${(err as Error).message}` }]);
  }
  const result = parseBlueprint(json, file);
  if (!result.ok) throw new BlueprintError(file, result.problems);
  return result.config;
};

export const parseBlueprint = (json: unknown, sourceFile: string): ParseResult => {
  const parsed = blueprintSchema.safeParse(json, { reportInput: true });
  const dropped = droppedGroupKeys(json);
  // First: a misspelt key is often why a required one is reported missing.
  const misspelt = misspeltKeys(json);
  if (!parsed.success || dropped.length > 0 || misspelt.length > 0) {
    return {
      ok: false,
      problems: [...misspelt, ...(parsed.error?.issues.map(toProblem) ?? []), ...dropped],
    };
  }
  return { ok: true, config: toAnalysisConfig(parsed.data, json as Record<string, unknown>, sourceFile) };
};

/** The records keyed by group, each with the message for a key that names no group. */
const GROUP_RECORDS = [
  { parent: 'Notifications', message: notAGroupMessage },
  { parent: 'RemoteSources', message: notARemoteGroupMessage },
] as const;

/**
 * zod's records skip a `__proto__` key without checking it (so it cannot replace the prototype), which
 * would silently ignore `Notifications.Groups.__proto__` or `RemoteSources.Groups.__proto__`: it is
 * no group (AffiliateName cannot start with `_`), so it is refused here.
 */
const droppedGroupKeys = (json: unknown): BlueprintProblem[] => {
  type Raw = { [P in (typeof GROUP_RECORDS)[number]['parent']]?: { Groups?: unknown } | null } & {
    UXData?: { Affiliates?: unknown } | null;
  };
  const raw = json as Raw | null;
  return GROUP_RECORDS.flatMap(({ parent, message }) => {
    const groups = raw?.[parent]?.Groups;
    if (!groups || typeof groups !== 'object' || !Object.hasOwn(groups, '__proto__')) return [];
    const names = affiliateNames(raw?.UXData?.Affiliates);
    return [{ path: `${parent}.Groups.__proto__`, message: message('__proto__', names) }];
  });
};

/**
 * Unknown keys near one of ours, at the top level and in `Lambda.LambdaConfig`: errors, since a
 * misspelt setting (`Submisions`, `INSTANCETYPE`) would otherwise be ignored with a warning while the
 * analysis runs without it. NeuroCAAS's own keys (LEGACY_KEYS) and keys near none of ours stay
 * warnings (unusedKeys).
 */
const misspeltKeys = (json: unknown): BlueprintProblem[] => {
  const raw = json as { Lambda?: { LambdaConfig?: unknown } | null } | null;
  const lambdaConfigSchema = blueprintSchema.shape.Lambda.shape.LambdaConfig;
  const sections: Array<[unknown, string, readonly string[], readonly string[]]> = [
    [raw, '', schemaKeys(blueprintSchema), LEGACY_KEYS.top],
    [
      raw?.Lambda?.LambdaConfig,
      'Lambda.LambdaConfig',
      schemaKeys(lambdaConfigSchema),
      LEGACY_KEYS.LambdaConfig,
    ],
  ];
  return sections.flatMap(([obj, at, known, legacy]) =>
    extraKeys(obj, known, '').flatMap((key): BlueprintProblem[] => {
      if (legacy.includes(key)) return [];
      const near = nearMatches(key, known);
      if (near.length === 0) return [];
      return [
        {
          path: at ? `${at}.${key}` : key,
          message: `unknown key "${key}": did you mean ${near.join(' or ')}? (misspelt, the setting would be ignored)`,
        },
      ];
    }),
  );
};

const formatPath = (segments: readonly PropertyKey[]): string =>
  segments.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? String(s) : `.${String(s)}`)).join('');

const toProblem = (issue: z.core.$ZodIssue): BlueprintProblem => {
  const where = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return {
      path: where,
      message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: check the spelling against the blueprint reference (README)`,
    };
  }
  const missing = 'input' in issue && issue.input === undefined && issue.code !== 'custom';
  if (missing) return { path: where, message: `is required (${issue.message})` };
  const got = 'input' in issue && issue.code !== 'custom' ? describeInput(issue.input) : '';
  return { path: where, message: got ? `${issue.message}; got ${got}` : issue.message };
};

const describeInput = (input: unknown): string => {
  if (input === null) return 'null';
  if (typeof input === 'string')
    return JSON.stringify(input.length > 80 ? `${input.slice(0, 77)}...` : input);
  if (typeof input === 'number' || typeof input === 'boolean') return String(input);
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'an object';
  return '';
};

/** Keys present in `obj` that the schema does not define, as JSON paths. */
const extraKeys = (obj: unknown, known: readonly string[], at: string): string[] =>
  obj && typeof obj === 'object' && !Array.isArray(obj)
    ? Object.keys(obj)
        .filter((k) => !known.includes(k))
        .map((k) => (at ? `${at}.${k}` : k))
    : [];

const schemaKeys = (schema: z.ZodObject): string[] => Object.keys(schema.shape);

/** Every key the blueprint has that we do not use, split into known NeuroCAAS keys and the rest. */
const unusedKeys = (raw: Record<string, unknown>): { legacy: string[]; unknown: string[] } => {
  const top = blueprintSchema;
  const topShape = top.shape;
  const lambdaSchema = topShape.Lambda;
  const lcSchema = lambdaSchema.shape.LambdaConfig;
  const uxSchema = topShape.UXData;
  const affiliateSchema = uxSchema.shape.Affiliates.element;

  const lambda = raw.Lambda as Record<string, unknown> | undefined;
  const ux = raw.UXData as Record<string, unknown> | undefined;
  const affiliates = Array.isArray(ux?.Affiliates) ? (ux.Affiliates as unknown[]) : [];
  const groups: Array<[string[], string[]]> = [
    [extraKeys(raw, schemaKeys(top), ''), LEGACY_KEYS.top],
    [extraKeys(lambda, schemaKeys(lambdaSchema), 'Lambda'), LEGACY_KEYS.Lambda],
    [extraKeys(lambda?.LambdaConfig, schemaKeys(lcSchema), 'Lambda.LambdaConfig'), LEGACY_KEYS.LambdaConfig],
    [extraKeys(ux, schemaKeys(uxSchema), 'UXData'), LEGACY_KEYS.UXData],
    ...affiliates.map((a, i): [string[], string[]] => [
      extraKeys(a, schemaKeys(affiliateSchema), `UXData.Affiliates[${i}]`),
      LEGACY_KEYS.Affiliate,
    ]),
  ];
  const legacy: string[] = [];
  const unknown: string[] = [];
  for (const [found, legacyNames] of groups) {
    for (const p of found) (legacyNames.includes(p.split('.').pop() ?? '') ? legacy : unknown).push(p);
  }
  // One line per key, not per affiliate: `UXData.Affiliates[*].PipelineDir`.
  const collapse = (paths: string[]) => [...new Set(paths.map((p) => p.replace(/\[\d+\]/g, '[*]')))];
  return { legacy: collapse(legacy), unknown: collapse(unknown) };
};

const toAnalysisConfig = (
  bp: BlueprintData,
  raw: Record<string, unknown>,
  sourceFile: string,
): AnalysisConfig => {
  const lc = bp.Lambda.LambdaConfig;
  const runtime = bp.Runtime ?? 'ec2';
  const warnings: string[] = [];
  const { legacy, unknown } = unusedKeys(raw);
  if (unknown.length > 0) {
    warnings.push(`keys not recognised and ignored (check the spelling): ${unknown.join(', ')}`);
  }
  if (lc.SHUTDOWN_BEHAVIOR === 'stop') {
    warnings.push(
      'Lambda.LambdaConfig.SHUTDOWN_BEHAVIOR "stop" is not supported: workers always terminate, so no stopped instance keeps billing for its volume',
    );
  }
  if (lc.REGION !== undefined && lc.REGION !== bp.REGION) {
    warnings.push(
      `Lambda.LambdaConfig.REGION "${lc.REGION}" differs from REGION "${bp.REGION}": REGION is used`,
    );
  }

  const appendRegion = bp.IamUsers?.AppendRegion ?? false;
  const remoteGroups = bp.RemoteSources?.Groups ?? {};
  const groups: GroupConfig[] = bp.UXData.Affiliates.map((a) => {
    const remote = Object.hasOwn(remoteGroups, a.AffiliateName) ? remoteGroups[a.AffiliateName] : undefined;
    return {
      name: a.AffiliateName,
      userNames: a.UserNames.map((u) => (appendRegion ? `${u}${bp.REGION}` : u)),
      userEmails: [...new Set(a.UserEmails.map((e) => e.trim().toLowerCase()))],
      userInput: a.UserInput,
      ...(a.ContactEmail && EMAIL.test(a.ContactEmail.trim()) ? { contactEmail: a.ContactEmail.trim() } : {}),
      ...(remote ? { rcloneConfigSecret: remote.RcloneConfigSecret } : {}),
    };
  });

  const workerTimeoutSeconds = lc.SSM_TIMEOUT ?? DEFAULTS.workerTimeoutSeconds;
  const defaultType = lc.INSTANCE_TYPE;
  const allowedInstanceTypes = [
    ...new Set([...(defaultType ? [defaultType] : []), ...(bp.Submissions?.AllowedInstanceTypes ?? [])]),
  ];
  const notifications = toNotificationConfig(bp, groups, warnings);

  return {
    sourceFile,
    name: bp.PipelineName,
    region: bp.REGION,
    stage: bp.STAGE ?? 'default',
    runtime,
    ...(lc.AMI && lc.INSTANCE_TYPE
      ? { ec2: { ami: lc.AMI, instanceType: lc.INSTANCE_TYPE, ...(bp.Ec2?.Spot ? { spot: true } : {}) } }
      : {}),
    ...(bp.Container
      ? {
          batch: {
            image: bp.Container.Image,
            vcpus: bp.Container.Vcpus ?? DEFAULTS.batch.vcpus,
            memoryMiB: bp.Container.MemoryMiB ?? DEFAULTS.batch.memoryMiB,
            gpus: bp.Container.Gpus ?? 0,
            stagingImage: bp.Container.StagingImage ?? DEFAULTS.batch.stagingImage,
            spot: bp.Container.Spot ?? false,
          },
        }
      : {}),
    ...(bp.RemoteSources?.Image && Object.keys(remoteGroups).length > 0
      ? { remoteSources: { image: bp.RemoteSources.Image } }
      : {}),
    command: lc.COMMAND,
    ...(lc.WORKING_DIRECTORY ? { workingDirectory: lc.WORKING_DIRECTORY } : {}),
    launchTimeoutSeconds: lc.EXECUTION_TIMEOUT ?? DEFAULTS.launchTimeoutSeconds,
    workerTimeoutSeconds,
    deployLimit: lc.DEPLOY_LIMIT ?? DEFAULTS.deployLimit,
    maxCostUsd: lc.MAXCOST ?? DEFAULTS.maxCostUsd,
    monitor: lc.MONITOR ?? true,
    groups,
    limits: {
      allowedInstanceTypes,
      maxDurationMinutes: bp.Submissions?.MaxDurationMinutes ?? workerTimeoutSeconds / 60,
      maxDatasetSizeGiB: bp.Submissions?.MaxDatasetSizeGiB ?? DEFAULTS.maxDatasetSizeGiB,
      maxDatasets: bp.Submissions?.MaxDatasets ?? DEFAULTS.maxDatasets,
    },
    ...(bp.Network
      ? {
          existingVpc: {
            vpcId: bp.Network.VpcId,
            availabilityZones: bp.Network.AvailabilityZones,
            subnetIds: bp.Network.SubnetIds,
          },
        }
      : {}),
    efsOnEc2Workers: bp.Efs?.MountOnEc2Workers ?? false,
    notifications,
    signIn: {
      enabled: bp.SignIn?.Enabled ?? true,
      selfSignUp: bp.SignIn?.SelfSignUp ?? false,
      allowedEmailDomains: (bp.SignIn?.AllowedEmailDomains ?? []).map((d) => d.toLowerCase()),
      mfa: bp.SignIn?.Mfa ?? 'OPTIONAL',
    },
    adopt: {
      ...(bp.Adopt?.BucketName ? { bucketName: bp.Adopt.BucketName } : {}),
      ...(bp.Adopt?.TableName ? { tableName: bp.Adopt.TableName } : {}),
      ...(bp.Adopt?.FileSystemId ? { fileSystemId: bp.Adopt.FileSystemId } : {}),
    },
    ignoredKeys: legacy,
    warnings,
  };
};

/** `ALL` spelled out; each event once, in the order written. */
const notificationEvents = (events: readonly string[]): NotificationEvent[] =>
  events.includes('ALL') ? ['BEGIN', 'END', 'FAIL', 'RETRY'] : ([...new Set(events)] as NotificationEvent[]);

/**
 * The analysis's choice, and each group's own (`Notifications.Groups`): a group's Events replace the
 * analysis's for that group ([] sends it nothing), its Emails get its messages only. Settings that
 * cannot take effect (the group is never notified) are warned about, not refused.
 */
const toNotificationConfig = (
  bp: BlueprintData,
  groups: readonly GroupConfig[],
  warnings: string[],
): AnalysisConfig['notifications'] => {
  const events = notificationEvents(bp.Notifications?.Events ?? DEFAULTS.notificationEvents);
  // The schema has refused names that are not affiliates.
  const choices = Object.entries(bp.Notifications?.Groups ?? {}).map(
    ([group, choice]): GroupNotificationConfig => ({
      group,
      events: choice.Events !== undefined ? notificationEvents(choice.Events) : events,
      emails: choice.Emails ?? [],
    }),
  );
  for (const choice of choices) {
    const at = `Notifications.Groups.${choice.group}`;
    if (groups.find((g) => g.name === choice.group)?.userInput === false) {
      warnings.push(
        `${at}: group "${choice.group}" does not submit jobs (UserInput false), so it is never notified: this setting is not used`,
      );
    } else if (choice.events.length === 0 && choice.emails.length > 0) {
      warnings.push(
        `${at}.Emails: group "${choice.group}" is sent no event: these addresses are not subscribed`,
      );
    }
  }
  return { emails: bp.Notifications?.Emails ?? [], events, groups: choices };
};
