/**
 * The one schema of a blueprint: NeuroCAAS's `stack_config_template.json`, accepted as NeuroCAAS
 * writes it, plus our extensions in their own top-level keys. It validates at synth, in the CLI and
 * (exported by `npm run schema` to schema/blueprint.schema.json) in editors through `$schema`.
 *
 * NeuroCAAS sections are loose objects: keys that only meant something to NeuroCAAS's own deployment
 * pass through and are named in a warning by the loader. Our extension objects are strict: a typo
 * there is an error, not a silently ignored setting.
 */
import * as z from 'zod';
import { PLACEHOLDER, prepareCommand } from './command-template';

const NUMBER_TEXT = /^\s*-?\d+(\.\d+)?\s*$/;

/** A number, or a number written as a string (`"MAXCOST": "300"` is common in NeuroCAAS blueprints). */
const numberLike = (what: string, opts: { integer?: boolean } = {}) => {
  const expected = `${what}: a number greater than 0${opts.integer ? ' (a whole number)' : ''}, e.g. 300 or "300"`;
  const checked = opts.integer
    ? z.number({ error: `expected ${expected}` }).int({ error: `expected ${expected}` })
    : z.number({ error: `expected ${expected}` });
  return z
    .union([z.number(), z.string().regex(NUMBER_TEXT, { error: `expected ${expected}` })], {
      error: `expected ${expected}`,
    })
    .transform((value) => Number(value))
    .pipe(checked.positive({ error: `expected ${expected}` }));
};

/** A boolean, or "true"/"false" as text. Never a falsy value turned into a default. */
const booleanLike = (what: string) =>
  z
    .union([z.boolean(), z.enum(['true', 'false'])], { error: `expected ${what}: true or false` })
    .transform((value) => value === true || value === 'true');

const text = (what: string) =>
  z.string({ error: `expected ${what} (text)` }).min(1, { error: `${what} is empty` });

/** Used in bucket names (with a generated suffix), the stack name, IAM and Batch names. */
export const PIPELINE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
/** Also an IAM name part and an S3 prefix: letters, digits, `-`, `_`. */
export const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const AMI_ID = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
/** An SSM parameter that EC2 resolves at launch (`resolve:ssm:/aws/service/ami-amazon-linux-latest/...`). */
export const AMI_SSM_PARAMETER = /^resolve:ssm:\/[A-Za-z0-9_.\-/]+$/;
export const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
export const REGION = /^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d$/;
export const IAM_USER_NAME = /^[A-Za-z0-9+=,.@_-]{1,64}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** A DNS name of at least two labels (what follows the @ of an address). */
const EMAIL_DOMAIN = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$/;
const VPC_ID = /^vpc-[0-9a-f]{8,17}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const FILE_SYSTEM_ID = /^fs-[0-9a-f]{8,17}$/;

const instanceType = (what: string) =>
  text(what).regex(INSTANCE_TYPE, { error: `expected ${what}: an EC2 instance type like m5.xlarge` });

const countPlaceholders = (command: string): number => command.split(PLACEHOLDER).length - 1;

const lambdaConfigSchema = z.looseObject({
  AMI: text('AMI')
    .refine((v) => AMI_ID.test(v) || AMI_SSM_PARAMETER.test(v), {
      error: 'expected AMI: an image id like ami-0123456789abcdef0, or resolve:ssm:/path/to/parameter',
    })
    .optional(),
  INSTANCE_TYPE: instanceType('INSTANCE_TYPE').optional(),
  COMMAND: text('COMMAND')
    .refine((v) => countPlaceholders(v) === 4, {
      error:
        'expected COMMAND to contain exactly four {} placeholders (bucket, dataset key, result folder, config key)',
    })
    .superRefine((v, ctx) => {
      const prepared = prepareCommand(v);
      if (!prepared.ok) ctx.addIssue({ code: 'custom', message: prepared.problem });
    }),
  WORKING_DIRECTORY: text('WORKING_DIRECTORY')
    .refine((v) => v.startsWith('/') || v === '~' || v.startsWith('~/'), {
      error:
        'expected WORKING_DIRECTORY: an absolute folder on the worker, e.g. /home/ubuntu (or ~/bin, in the home of the user running the worker)',
    })
    .optional(),
  EXECUTION_TIMEOUT: numberLike('EXECUTION_TIMEOUT in seconds', { integer: true }).optional(),
  SSM_TIMEOUT: numberLike('SSM_TIMEOUT in seconds', { integer: true }).optional(),
  DEPLOY_LIMIT: numberLike('DEPLOY_LIMIT (most workers at once)', { integer: true }).optional(),
  MAXCOST: numberLike('MAXCOST in USD per group per month').optional(),
  MONITOR: booleanLike('MONITOR').optional(),
  SHUTDOWN_BEHAVIOR: z
    .enum(['terminate', 'stop'], { error: 'expected SHUTDOWN_BEHAVIOR: "terminate" (or "stop")' })
    .optional(),
  REGION: z.string().optional(),
});

const affiliateSchema = z.looseObject({
  AffiliateName: text('AffiliateName').regex(GROUP_NAME, {
    error:
      'expected AffiliateName: 1-64 letters, digits, "-" or "_", starting with a letter or digit (it is the group\'s S3 prefix and part of IAM names)',
  }),
  UserNames: z
    .array(
      text('a user name').regex(IAM_USER_NAME, {
        error: 'expected an IAM user name (letters, digits and +=,.@_-, at most 64)',
      }),
      { error: 'expected UserNames: a list of existing IAM user names' },
    )
    .default([]),
  /** Ours: people invited to the group's sign-in at deploy (never removed by a later deploy). */
  UserEmails: z
    .array(
      text('an email address')
        .max(254, { error: 'expected an email address of at most 254 characters' })
        .regex(EMAIL, { error: 'expected an email address like ana@lab.example.org' }),
      { error: 'expected UserEmails: a list of email addresses to invite' },
    )
    .max(500, { error: 'expected at most 500 UserEmails per group: add more with `ncaas users add`' })
    .default([]),
  UserInput: booleanLike('UserInput').default(true),
  ContactEmail: z.string({ error: 'expected ContactEmail (text)' }).optional(),
});

/** Ours: how a submission may use the analysis. */
const submissionsSchema = z.strictObject({
  AllowedInstanceTypes: z.array(instanceType('an instance type')).optional(),
  MaxDurationMinutes: numberLike('MaxDurationMinutes').optional(),
  MaxDatasetSizeGiB: numberLike('MaxDatasetSizeGiB').optional(),
  MaxDatasets: numberLike('MaxDatasets', { integer: true }).optional(),
});

/** Ours: the container runtime (Batch). */
const containerSchema = z.strictObject({
  Image: text('Container.Image (an image in a registry, e.g. public.ecr.aws/docker/library/python:3.12)'),
  Vcpus: numberLike('Container.Vcpus').optional(),
  MemoryMiB: numberLike('Container.MemoryMiB', { integer: true }).optional(),
  Gpus: z
    .union([z.literal(0), numberLike('Container.Gpus', { integer: true })], {
      error: 'expected Container.Gpus: 0 or more',
    })
    .optional(),
  StagingImage: text('Container.StagingImage').optional(),
  Spot: booleanLike('Container.Spot').optional(),
});

/**
 * Secrets Manager secret names: 1-512 of letters, digits and /_+=.@-. A name ending in `-` and six
 * characters is refused: Secrets Manager reads it as the random suffix of an ARN, so the name could
 * resolve to another secret (its own documentation says not to name secrets so).
 */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_NAME_SUFFIX_LIKE = /-[A-Za-z0-9]{6}$/;
/** A complete secret ARN: the name and the six-character suffix Secrets Manager adds. */
const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;

/**
 * The official rclone image (`rclone/rclone`, on Docker Hub or mirrored) has ENTRYPOINT ["rclone"],
 * which AWS Batch cannot override: the fetch stage's `sh -c` would become rclone's arguments.
 */
const OFFICIAL_RCLONE_IMAGE = /(?:^|\/)rclone\/rclone(?:[:@].*)?$/;

const secretReference = (what: string) =>
  text(what).refine(
    (v) =>
      v.startsWith('arn:') ? SECRET_ARN.test(v) : SECRET_NAME.test(v) && !SECRET_NAME_SUFFIX_LIKE.test(v),
    {
      error: (issue) =>
        typeof issue.input === 'string' && issue.input.startsWith('arn:')
          ? `expected ${what}: the complete ARN of a Secrets Manager secret, with the six characters Secrets Manager appends (arn:aws:secretsmanager:us-east-1:123456789012:secret:rclone/labA-AbCdEf), or just the secret's name`
          : typeof issue.input === 'string' && SECRET_NAME.test(issue.input)
            ? `expected ${what}: a secret name that does not end in "-" and six letters or digits (Secrets Manager would read them as an ARN suffix and could pick another secret): rename the secret, or give its complete ARN`
            : `expected ${what}: the name of a Secrets Manager secret (1-512 letters, digits and /_+=.@-, e.g. ncaas/rclone/labA) or its complete ARN`,
    },
  );

/** Ours: datasets fetched with rclone from a remote the group configures (the batch runtime only). */
const remoteSourcesSchema = z.strictObject({
  Image: text('RemoteSources.Image (an image in a registry with sh and rclone and no ENTRYPOINT)')
    .refine((v) => !OFFICIAL_RCLONE_IMAGE.test(v), {
      error:
        'the official rclone image has ENTRYPOINT ["rclone"], which AWS Batch cannot override, so the fetch stage could not run its shell: build a two-line image `FROM rclone/rclone:1.69` + `ENTRYPOINT []`, push it to a registry (e.g. ECR) and name it here',
    })
    .optional(),
  Groups: z.record(
    z.string(),
    z.strictObject(
      { RcloneConfigSecret: secretReference('RcloneConfigSecret') },
      {
        error:
          "expected an object with RcloneConfigSecret (the Secrets Manager secret holding the group's rclone.conf)",
      },
    ),
    { error: 'expected RemoteSources.Groups: an object whose keys are groups (AffiliateName)' },
  ),
});

const networkSchema = z.strictObject({
  VpcId: text('Network.VpcId').regex(VPC_ID, { error: 'expected Network.VpcId like vpc-0123456789abcdef0' }),
  AvailabilityZones: z.array(text('an availability zone')).min(1, { error: 'name at least one zone' }),
  SubnetIds: z
    .array(
      text('a subnet id').regex(SUBNET_ID, { error: 'expected a subnet id like subnet-0123456789abcdef0' }),
    )
    .min(1, { error: 'name at least one subnet' }),
});

const NOTIFICATION_EVENTS = 'BEGIN, END, FAIL, RETRY or ALL';

const notificationEvents = (what: string) =>
  z.array(z.enum(['BEGIN', 'END', 'FAIL', 'RETRY', 'ALL'], { error: `expected ${NOTIFICATION_EVENTS}` }), {
    error: `expected ${what}: a list of ${NOTIFICATION_EVENTS} ([] sends nothing)`,
  });

const notificationEmails = (what: string) =>
  z.array(text('an email address').regex(EMAIL, { error: 'expected an email address' }), {
    error: `expected ${what}: a list of email addresses`,
  });

/** One group's own choice: its Events replace the analysis's, its Emails get its messages only. */
const groupNotificationsSchema = z.strictObject(
  {
    Events: notificationEvents('Events').optional(),
    Emails: notificationEmails('Emails').optional(),
  },
  { error: 'expected an object with "Events" and/or "Emails"' },
);

const notificationsSchema = z.strictObject({
  Emails: notificationEmails('Notifications.Emails').optional(),
  Events: notificationEvents('Notifications.Events').optional(),
  // Group names are checked against the affiliates below, where the affiliates are known.
  Groups: z
    .record(z.string(), groupNotificationsSchema, {
      error: 'expected Notifications.Groups: an object of group name -> { "Events": [...], "Emails": [...] }',
    })
    .optional(),
});

/** Per-analysis sign-in (Cognito); lib/constructs/sign-in.ts. */
const signInSchema = z.strictObject(
  {
    Enabled: booleanLike('SignIn.Enabled').optional(),
    SelfSignUp: booleanLike('SignIn.SelfSignUp').optional(),
    AllowedEmailDomains: z
      .array(
        text('an email domain').regex(EMAIL_DOMAIN, { error: 'expected an email domain like example.org' }),
        { error: 'expected SignIn.AllowedEmailDomains: a list of email domains like example.org' },
      )
      .optional(),
    Mfa: z
      .enum(['OFF', 'OPTIONAL', 'REQUIRED'], {
        error: 'expected SignIn.Mfa: "OFF", "OPTIONAL" or "REQUIRED"',
      })
      .optional(),
  },
  { error: 'expected SignIn: an object with Enabled, SelfSignUp, AllowedEmailDomains and/or Mfa' },
);

/**
 * The AffiliateNames that are text, read from input the schema may have refused (the cross-field
 * checks and the loader's `__proto__` guard run either way).
 */
export const affiliateNames = (affiliates: unknown): string[] =>
  Array.isArray(affiliates)
    ? affiliates
        .map((affiliate) => (affiliate as { AffiliateName?: unknown } | null)?.AffiliateName)
        .filter((name): name is string => typeof name === 'string')
    : [];

/** A `RemoteSources.Groups` key that names no affiliate: what is wrong and the names there are. */
export const notARemoteGroupMessage = (name: string, groupNames: readonly string[]): string =>
  `"${name}" is not a group of this analysis (UXData.Affiliates: ${groupNames.map((n) => `"${n}"`).join(', ') || 'none'}): use an AffiliateName exactly as written there`;

/** A `Notifications.Groups` key that names no affiliate: what is wrong and the names that would do. */
export const notAGroupMessage = (name: string, groupNames: readonly string[]): string => {
  const otherCase = groupNames.find((known) => known.toLowerCase() === name.toLowerCase());
  return (
    `"${name}" is not a group of this blueprint` +
    (otherCase !== undefined ? ` (group names are case-sensitive: did you mean "${otherCase}"?)` : '') +
    `: name one of the UXData.Affiliates: ${groupNames.map((known) => `"${known}"`).join(', ') || '(none)'}`
  );
};

export const blueprintSchema = z
  .looseObject(
    {
      $schema: z.string().optional(),
      PipelineName: text('PipelineName').regex(PIPELINE_NAME, {
        error:
          'expected PipelineName: 1-40 lowercase letters, digits and dashes, not starting or ending with a dash (it names the stack and the bucket)',
      }),
      REGION: text('REGION').regex(REGION, { error: 'expected REGION: an AWS region like us-east-1' }),
      STAGE: text('STAGE').optional(),
      Lambda: z.looseObject({ LambdaConfig: lambdaConfigSchema }, { error: 'expected Lambda: an object' }),
      UXData: z.looseObject(
        {
          Affiliates: z
            .array(affiliateSchema, { error: 'expected Affiliates: a list of groups' })
            .min(1, { error: 'expected at least one affiliate (group)' }),
        },
        { error: 'expected UXData: an object with Affiliates' },
      ),
      // Extensions (ours).
      Runtime: z.enum(['ec2', 'batch'], { error: 'expected Runtime: "ec2" or "batch"' }).optional(),
      Container: containerSchema.optional(),
      Submissions: submissionsSchema.optional(),
      Network: networkSchema.optional(),
      Efs: z.strictObject({ MountOnEc2Workers: booleanLike('Efs.MountOnEc2Workers').optional() }).optional(),
      /** The ec2 runtime's workers: `Spot` asks for Spot capacity, on-demand where it has none. */
      Ec2: z.strictObject({ Spot: booleanLike('Ec2.Spot').optional() }).optional(),
      Notifications: notificationsSchema.optional(),
      SignIn: signInSchema.optional(),
      RemoteSources: remoteSourcesSchema.optional(),
      IamUsers: z.strictObject({ AppendRegion: booleanLike('IamUsers.AppendRegion').optional() }).optional(),
      Adopt: z
        .strictObject({
          BucketName: text('Adopt.BucketName').optional(),
          TableName: text('Adopt.TableName').optional(),
          FileSystemId: text('Adopt.FileSystemId')
            .regex(FILE_SYSTEM_ID, { error: 'expected a file system id like fs-0123456789abcdef0' })
            .optional(),
        })
        .optional(),
    },
    { error: 'expected the blueprint to be a JSON object' },
  )
  .superRefine(
    (bp, ctx) => {
      // Runs even when other fields failed, so every problem is reported at once: guard each read.
      if (bp?.SignIn?.SelfSignUp === true && (bp.SignIn.AllowedEmailDomains ?? []).length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['SignIn', 'AllowedEmailDomains'],
          message:
            'is required with SelfSignUp: name the email domains that may sign up (e.g. ["example.org"]); anyone else could create accounts, and Cognito bills per monthly active user',
        });
      }
      if (bp?.SignIn?.Enabled === false) {
        (Array.isArray(bp?.UXData?.Affiliates) ? bp.UXData.Affiliates : []).forEach((affiliate, index) => {
          if ((affiliate?.UserEmails ?? []).length > 0) {
            ctx.addIssue({
              code: 'custom',
              path: ['UXData', 'Affiliates', index, 'UserEmails'],
              message:
                'invites people to the sign-in, which SignIn.Enabled false turns off: remove one or the other',
            });
          }
        });
      }
      const lc = bp?.Lambda?.LambdaConfig;
      const runtime = bp?.Runtime ?? 'ec2';
      if (runtime === 'ec2' && lc) {
        for (const key of ['AMI', 'INSTANCE_TYPE'] as const) {
          if (lc[key] === undefined) {
            ctx.addIssue({
              code: 'custom',
              path: ['Lambda', 'LambdaConfig', key],
              message: `is required for the ec2 runtime (the default Runtime)`,
            });
          }
        }
      }
      if (runtime === 'batch' && bp.Container === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['Container'],
          message: 'is required (with Image) when Runtime is "batch"',
        });
      }
      const affiliates: unknown[] = Array.isArray(bp?.UXData?.Affiliates) ? bp.UXData.Affiliates : [];
      const groupNames = affiliateNames(affiliates);
      const choices: unknown = bp?.Notifications?.Groups;
      if (choices && typeof choices === 'object' && !Array.isArray(choices)) {
        for (const name of Object.keys(choices)) {
          if (groupNames.includes(name)) continue;
          ctx.addIssue({
            code: 'custom',
            path: ['Notifications', 'Groups', name],
            message: notAGroupMessage(name, groupNames),
          });
        }
      }
      remoteSourcesProblems(bp?.RemoteSources, runtime, groupNames, ctx);
      const seen = new Map<string, number>();
      affiliates.forEach((affiliate, index) => {
        const name = (affiliate as { AffiliateName?: unknown } | null)?.AffiliateName;
        if (typeof name !== 'string') return;
        const first = seen.get(name.toLowerCase());
        if (first === undefined) seen.set(name.toLowerCase(), index);
        else
          ctx.addIssue({
            code: 'custom',
            path: ['UXData', 'Affiliates', index, 'AffiliateName'],
            message: `duplicate group "${name}" (also Affiliates[${first}]): group names must be unique, ignoring case`,
          });
      });
    },
    { when: () => true },
  );

/** RemoteSources rules that span fields: the runtime, the groups, the image. */
const remoteSourcesProblems = (
  remote: { Image?: string; Groups?: Record<string, unknown> } | undefined,
  runtime: string,
  names: readonly string[],
  ctx: z.RefinementCtx,
): void => {
  if (remote === undefined) return;
  if (runtime !== 'batch') {
    ctx.addIssue({
      code: 'custom',
      path: ['RemoteSources'],
      message: `needs Runtime "batch" (this blueprint's runtime is "${runtime}"): the rclone fetch runs as a Batch job beside the analysis; set Runtime to "batch" (with Container) or remove RemoteSources`,
    });
  }
  const groups = remote.Groups && typeof remote.Groups === 'object' ? Object.keys(remote.Groups) : [];
  for (const group of groups) {
    if (!names.includes(group)) {
      ctx.addIssue({
        code: 'custom',
        path: ['RemoteSources', 'Groups', group],
        message: notARemoteGroupMessage(group, names),
      });
    }
  }
  if (groups.length > 0 && remote.Image === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['RemoteSources', 'Image'],
      message:
        'is required when a group has an RcloneConfigSecret: an image in a registry with sh and rclone and no ENTRYPOINT (the official rclone/rclone image has ENTRYPOINT ["rclone"], which AWS Batch cannot override: build `FROM rclone/rclone:1.69` + `ENTRYPOINT []` and push it)',
    });
  }
};

/** The blueprint as written (input side: numbers may be strings). */
export type BlueprintInput = z.input<typeof blueprintSchema>;
/** The blueprint after parsing (numbers are numbers, defaults applied to NeuroCAAS keys only). */
export type BlueprintData = z.output<typeof blueprintSchema>;

/**
 * Keys that only meant something to NeuroCAAS's own deployment: accepted, ignored, named in one warning.
 * Paths are relative to the object they appear in.
 */
export const LEGACY_KEYS = {
  top: [] as string[],
  Lambda: ['CodeUri', 'Handler', 'PostCodeUri', 'PostHandler', 'PostTrigger', 'Requirements', 'Launch'],
  LambdaConfig: [
    'REGION',
    'SECURITY_GROUPS',
    'IAM_ROLE',
    'KEY_NAME',
    'CONFIG',
    'MISSING_CONFIG_ERROR',
    'LAUNCH',
    'LOGFILE',
    'LOGDIR',
    'OUTDIR',
    'INDIR',
  ],
  UXData: [] as string[],
  Affiliate: ['PipelinePath', 'PipelineDir'],
};

export const blueprintJsonSchema = (): Record<string, unknown> => {
  const schema = z.toJSONSchema(blueprintSchema, { io: 'input', unrepresentable: 'any' });
  return {
    ...schema,
    $id: 'https://github.com/ncaas/ncaas/schema/blueprint.schema.json',
    title: 'ncaas analysis blueprint',
    description:
      "An analysis: NeuroCAAS's stack_config_template.json format plus ncaas extensions (Runtime, Container, Ec2, Submissions, Network, Efs, Notifications, RemoteSources, IamUsers, Adopt).",
  };
};
