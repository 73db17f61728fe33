import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { blueprintJsonSchema } from '../../lib/blueprint/blueprint-schema';
import {
  BlueprintError,
  loadBlueprintFile,
  parseBlueprint,
  resolveBlueprintPath,
} from '../../lib/blueprint/load-blueprint';
import { FIXTURE_BLUEPRINTS, neurocaasBlueprint, PROJECT_ROOT } from '../support/synth';

const fixtures = fs.readdirSync(FIXTURE_BLUEPRINTS).filter((f) => f.endsWith('.json'));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests build deliberately malformed, arbitrary JSON
type AnyJson = Record<string, any>;

/** A deep copy of the base blueprint with `mutate` applied. */
const variant = (mutate: (bp: AnyJson) => void): Record<string, unknown> => {
  const bp = JSON.parse(JSON.stringify(neurocaasBlueprint()));
  mutate(bp);
  return bp;
};

const configOf = (bp: unknown) => {
  const result = parseBlueprint(bp, 'good.json');
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config;
};

const problemsOf = (bp: unknown) => {
  const result = parseBlueprint(bp, 'bad.json');
  if (result.ok) throw new Error('expected the blueprint to be refused');
  return result.problems;
};

describe('NeuroCAAS blueprints load unchanged', () => {
  test.each(fixtures)('%s', (file) => {
    const config = loadBlueprintFile(path.join(FIXTURE_BLUEPRINTS, file));
    const raw = JSON.parse(fs.readFileSync(path.join(FIXTURE_BLUEPRINTS, file), 'utf8'));
    expect(config.name).toBe(raw.PipelineName);
    expect(config.stage).toBe(raw.STAGE);
    expect(config.runtime).toBe('ec2');
    expect(config.ec2).toEqual({
      ami: raw.Lambda.LambdaConfig.AMI,
      instanceType: raw.Lambda.LambdaConfig.INSTANCE_TYPE,
    });
    expect(config.command).toBe(raw.Lambda.LambdaConfig.COMMAND);
    expect(config.maxCostUsd).toBe(Number(raw.Lambda.LambdaConfig.MAXCOST ?? 300));
    expect(config.groups.map((g) => g.name)).toEqual(
      raw.UXData.Affiliates.map((a: { AffiliateName: string }) => a.AffiliateName),
    );
    // Deployment keys NeuroCAAS needed are named once, for the synth warning.
    expect(config.ignoredKeys).toEqual(expect.arrayContaining(['Lambda.CodeUri', 'Lambda.Handler']));
    expect(config.warnings).toEqual([]);
  });

  test('every STAGE in the fixtures is accepted', () => {
    const stages = new Set(fixtures.map((f) => loadBlueprintFile(path.join(FIXTURE_BLUEPRINTS, f)).stage));
    expect([...stages].sort()).toEqual(['develop', 'webdev', 'websubstack']);
  });

  test('placeholder ContactEmail text is dropped; a real address is kept', () => {
    const epi = loadBlueprintFile(path.join(FIXTURE_BLUEPRINTS, 'epi_web_stack.json'));
    expect(epi.groups.map((g) => g.contactEmail)).toEqual([
      'tgabe94@gmail.com',
      undefined,
      'tgabe94@gmail.com',
    ]);
  });

  test('numbers written as strings are numbers', () => {
    const config = loadBlueprintFile(path.join(FIXTURE_BLUEPRINTS, 'cianalysispermastack.json'));
    expect(config.maxCostUsd).toBe(300);
    const fromStrings = parseBlueprint(
      variant((bp) => {
        bp.Lambda.LambdaConfig.DEPLOY_LIMIT = ' 7 ';
        bp.Lambda.LambdaConfig.SSM_TIMEOUT = '3600';
        bp.Lambda.LambdaConfig.MAXCOST = '12.5';
      }),
      'x.json',
    );
    expect(
      fromStrings.ok && [
        fromStrings.config.deployLimit,
        fromStrings.config.workerTimeoutSeconds,
        fromStrings.config.maxCostUsd,
      ],
    ).toEqual([7, 3600, 12.5]);
  });

  test('a falsy value is kept, never replaced by the default (NeuroCAAS turned MONITOR false into true)', () => {
    const result = parseBlueprint(
      variant((bp) => {
        bp.Lambda.LambdaConfig.MONITOR = false;
        bp.UXData.Affiliates[1].UserInput = 'false';
      }),
      'x.json',
    );
    expect(result.ok && result.config.monitor).toBe(false);
    expect(result.ok && result.config.groups[1].userInput).toBe(false);
  });

  test('unknown NeuroCAAS-section keys and SHUTDOWN_BEHAVIOR "stop" are warnings, not errors', () => {
    // A key near none of ours (a misspelt one of ours is an error: test/blueprint/typos.test.ts).
    const result = parseBlueprint(
      variant((bp) => {
        bp.Lambda.LambdaConfig.GPU_COUNT = 3;
        bp.Lambda.LambdaConfig.SHUTDOWN_BEHAVIOR = 'stop';
      }),
      'x.json',
    );
    if (!result.ok) throw new Error('expected ok');
    expect(result.config.warnings.join('\n')).toMatch(/Lambda\.LambdaConfig\.GPU_COUNT/);
    expect(result.config.warnings.join('\n')).toMatch(/SHUTDOWN_BEHAVIOR "stop" is not supported/);
  });

  test('legacy keys of affiliates are named once, not once per affiliate', () => {
    const config = loadBlueprintFile(path.join(FIXTURE_BLUEPRINTS, 'caiman_dev_stack.json'));
    expect(config.ignoredKeys.filter((k) => k.includes('PipelineDir'))).toEqual([
      'UXData.Affiliates[*].PipelineDir',
    ]);
  });

  test('our extensions are read', () => {
    const result = parseBlueprint(
      variant((bp) => {
        bp.Runtime = 'batch';
        bp.Container = {
          Image: 'public.ecr.aws/docker/library/python:3.12',
          Vcpus: '4',
          Gpus: 1,
          Spot: true,
        };
        bp.Submissions = { AllowedInstanceTypes: ['p3.2xlarge'], MaxDurationMinutes: 90, MaxDatasets: 3 };
        bp.Efs = { MountOnEc2Workers: true };
        bp.Notifications = { Emails: ['ops@example.org'], Events: ['ALL'] };
      }),
      'x.json',
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const { config } = result;
    expect(config.runtime).toBe('batch');
    expect(config.batch).toEqual(expect.objectContaining({ vcpus: 4, gpus: 1, spot: true, memoryMiB: 4096 }));
    expect(config.limits).toEqual({
      allowedInstanceTypes: ['m5.xlarge', 'p3.2xlarge'],
      maxDurationMinutes: 90,
      maxDatasetSizeGiB: 500,
      maxDatasets: 3,
    });
    expect(config.efsOnEc2Workers).toBe(true);
    expect(config.notifications.events).toEqual(['BEGIN', 'END', 'FAIL', 'RETRY']);
  });
});

describe('notifications chosen per group (Notifications.Groups)', () => {
  const parse = (notifications: AnyJson, mutate: (bp: AnyJson) => void = () => undefined) => {
    const result = parseBlueprint(
      variant((bp) => {
        bp.Notifications = notifications;
        mutate(bp);
      }),
      'x.json',
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    return result.config;
  };

  test('without Groups every group keeps the analysis choice, as before', () => {
    for (const file of fixtures) {
      expect(loadBlueprintFile(path.join(FIXTURE_BLUEPRINTS, file)).notifications).toEqual({
        emails: [],
        events: ['BEGIN', 'END', 'FAIL'],
        groups: [],
      });
    }
    expect(parse({ Events: ['FAIL'], Emails: ['ops@example.org'] }).notifications).toEqual({
      emails: ['ops@example.org'],
      events: ['FAIL'],
      groups: [],
    });
  });

  test("a group's Events replace the analysis's; ALL is every event; [] is none; no Events keeps the analysis's", () => {
    const config = parse(
      {
        Events: ['END', 'FAIL', 'END'],
        Emails: ['ops@example.org'],
        Groups: { lab: { Events: ['FAIL', 'ALL'] }, lab2: { Emails: ['pi@lab2.example.org'] } },
      },
      (bp) => bp.UXData.Affiliates.push({ AffiliateName: 'lab3', UserNames: [] }),
    );
    expect(config.notifications.events).toEqual(['END', 'FAIL']);
    expect(config.notifications.groups).toEqual([
      { group: 'lab', events: ['BEGIN', 'END', 'FAIL', 'RETRY'], emails: [] },
      { group: 'lab2', events: ['END', 'FAIL'], emails: ['pi@lab2.example.org'] },
    ]);
    expect(config.warnings).toEqual([]);

    const silenced = parse({ Groups: { lab: { Events: [] } } });
    expect(silenced.notifications.groups).toEqual([{ group: 'lab', events: [], emails: [] }]);
    const optIn = parse({ Events: [], Groups: { lab2: { Events: ['RETRY'] } } });
    expect(optIn.notifications.events).toEqual([]);
    expect(optIn.notifications.groups).toEqual([{ group: 'lab2', events: ['RETRY'], emails: [] }]);
  });

  test('settings that cannot take effect are warned about by path', () => {
    const config = parse(
      {
        Events: [],
        Groups: {
          viewers: { Events: ['FAIL'] },
          lab: { Emails: ['pi@lab.example.org'] },
          lab2: { Events: [], Emails: ['pi@lab2.example.org'] },
        },
      },
      (bp) => bp.UXData.Affiliates.push({ AffiliateName: 'viewers', UserNames: [], UserInput: false }),
    );
    expect(config.warnings).toEqual([
      'Notifications.Groups.viewers: group "viewers" does not submit jobs (UserInput false), so it is never notified: this setting is not used',
      'Notifications.Groups.lab.Emails: group "lab" is sent no event: these addresses are not subscribed',
      'Notifications.Groups.lab2.Emails: group "lab2" is sent no event: these addresses are not subscribed',
    ]);
  });
});

describe('RemoteSources: rclone datasets for some groups (batch runtime)', () => {
  const batchVariant = (remote: unknown) =>
    variant((bp) => {
      bp.Runtime = 'batch';
      bp.Container = { Image: 'public.ecr.aws/docker/library/python:3.12' };
      bp.RemoteSources = remote;
    });
  const IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/rclone-sh:1.69';
  const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ncaas/rclone/lab2-AbC123';

  test('each listed group gets its secret (name or complete ARN); the others none; the image is kept', () => {
    const config = configOf(
      batchVariant({
        Image: IMAGE,
        Groups: { lab: { RcloneConfigSecret: 'ncaas/rclone/lab' }, lab2: { RcloneConfigSecret: ARN } },
      }),
    );
    expect(config.groups.map((g) => [g.name, g.rcloneConfigSecret])).toEqual([
      ['lab', 'ncaas/rclone/lab'],
      ['lab2', ARN],
    ]);
    expect(config.remoteSources).toEqual({ image: IMAGE });
    const one = configOf(batchVariant({ Image: IMAGE, Groups: { lab2: { RcloneConfigSecret: 'rc' } } }));
    expect(one.groups.map((g) => g.rcloneConfigSecret)).toEqual([undefined, 'rc']);
  });

  test('without RemoteSources, or with no group in it, no group may fetch and no image is named', () => {
    const none = configOf(batchVariant(undefined));
    expect(none.groups.every((g) => g.rcloneConfigSecret === undefined)).toBe(true);
    expect(none.remoteSources).toBeUndefined();
    expect(configOf(batchVariant({ Groups: {} })).remoteSources).toBeUndefined();
  });

  const bad: Array<[string, unknown, string, RegExp]> = [
    [
      'the official rclone image (ENTRYPOINT rclone)',
      { Image: 'rclone/rclone:1.69', Groups: { lab: { RcloneConfigSecret: 'x' } } },
      'RemoteSources.Image',
      /ENTRYPOINT \["rclone"\], which AWS Batch cannot override.*FROM rclone\/rclone.*ENTRYPOINT \[\]/,
    ],
    [
      'the official image through a registry mirror, by digest',
      { Image: 'docker.io/rclone/rclone@sha256:abc', Groups: { lab: { RcloneConfigSecret: 'x' } } },
      'RemoteSources.Image',
      /cannot override/,
    ],
    [
      'the official image without a tag',
      { Image: 'rclone/rclone', Groups: { lab: { RcloneConfigSecret: 'x' } } },
      'RemoteSources.Image',
      /cannot override/,
    ],
    [
      'no image while a group has a secret',
      { Groups: { lab: { RcloneConfigSecret: 'x' } } },
      'RemoteSources.Image',
      /is required when a group has an RcloneConfigSecret.*no ENTRYPOINT/,
    ],
    ['an empty image', { Image: '', Groups: {} }, 'RemoteSources.Image', /is empty/],
    [
      'a group that is not an affiliate',
      { Image: IMAGE, Groups: { lab3: { RcloneConfigSecret: 'x' } } },
      'RemoteSources.Groups.lab3',
      /"lab3" is not a group of this analysis \(UXData.Affiliates: "lab", "lab2"\)/,
    ],
    [
      'a group written in another case',
      { Image: IMAGE, Groups: { LAB: { RcloneConfigSecret: 'x' } } },
      'RemoteSources.Groups.LAB',
      /exactly as written there/,
    ],
    [
      'a group without its secret',
      { Image: IMAGE, Groups: { lab: {} } },
      'RemoteSources.Groups.lab.RcloneConfigSecret',
      /is required/,
    ],
    [
      'a misspelt key in a group',
      { Image: IMAGE, Groups: { lab: { RcloneConfigSecret: 'x', RcloneConfig: 'y' } } },
      'RemoteSources.Groups.lab',
      /unknown key "RcloneConfig"/,
    ],
    [
      'a group that is text, not an object',
      { Image: IMAGE, Groups: { lab: 'ncaas/rclone/lab' } },
      'RemoteSources.Groups.lab',
      /expected an object with RcloneConfigSecret/,
    ],
    [
      'Groups as a list',
      { Image: IMAGE, Groups: [{ lab: { RcloneConfigSecret: 'x' } }] },
      'RemoteSources.Groups',
      /an object whose keys are groups/,
    ],
    ['no Groups at all', { Image: IMAGE }, 'RemoteSources.Groups', /is required/],
    [
      'a misspelt key in RemoteSources',
      { Image: IMAGE, Groups: {}, Secret: 'x' },
      'RemoteSources',
      /unknown key "Secret"/,
    ],
    [
      'a secret name with a space',
      { Image: IMAGE, Groups: { lab: { RcloneConfigSecret: 'my secret' } } },
      'RemoteSources.Groups.lab.RcloneConfigSecret',
      /the name of a Secrets Manager secret \(1-512 letters/,
    ],
    [
      'a secret name over 512 characters',
      { Image: IMAGE, Groups: { lab: { RcloneConfigSecret: 's'.repeat(513) } } },
      'RemoteSources.Groups.lab.RcloneConfigSecret',
      /1-512/,
    ],
    [
      'a secret name ending like an ARN suffix',
      { Image: IMAGE, Groups: { lab: { RcloneConfigSecret: 'rclone-lab123' } } },
      'RemoteSources.Groups.lab.RcloneConfigSecret',
      /does not end in "-" and six letters or digits/,
    ],
    [
      'a partial secret ARN (no suffix)',
      {
        Image: IMAGE,
        Groups: { lab: { RcloneConfigSecret: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rc' } },
      },
      'RemoteSources.Groups.lab.RcloneConfigSecret',
      /the complete ARN .* with the six characters/,
    ],
    [
      'an ARN of another service',
      {
        Image: IMAGE,
        Groups: { lab: { RcloneConfigSecret: 'arn:aws:ssm:us-east-1:123456789012:parameter/rc-AbC123' } },
      },
      'RemoteSources.Groups.lab.RcloneConfigSecret',
      /the complete ARN/,
    ],
    [
      'a secret that is a number',
      { Image: IMAGE, Groups: { lab: { RcloneConfigSecret: 7 } } },
      'RemoteSources.Groups.lab.RcloneConfigSecret',
      /expected RcloneConfigSecret \(text\)/,
    ],
    ['RemoteSources as text', 'rclone', 'RemoteSources', /expected object/],
    [
      'a group named __proto__ (which zod would drop unchecked)',
      JSON.parse(`{"Image": "${IMAGE}", "Groups": {"__proto__": {"RcloneConfigSecret": "x"}}}`),
      'RemoteSources.Groups.__proto__',
      /^"__proto__" is not a group of this analysis \(UXData.Affiliates: "lab", "lab2"\)/,
    ],
  ];

  test.each(bad)('%s', (_name, remote, where, message) => {
    const problems = problemsOf(batchVariant(remote));
    expect(problems).toContainEqual({ path: where, message: expect.stringMatching(message) });
  });

  test('only with Runtime batch: an ec2 blueprint with RemoteSources says what to do', () => {
    const problems = problemsOf(
      variant((bp) => {
        bp.RemoteSources = { Image: IMAGE, Groups: { lab: { RcloneConfigSecret: 'x' } } };
      }),
    );
    expect(problems).toEqual([
      {
        path: 'RemoteSources',
        message: expect.stringMatching(
          /needs Runtime "batch" \(this blueprint's runtime is "ec2"\).*set Runtime to "batch"/,
        ),
      },
    ]);
  });
});

describe('bad blueprints fail with the field named and what is expected', () => {
  const cases: Array<[string, (bp: AnyJson) => void, string, RegExp]> = [
    [
      'PipelineName with capitals',
      (bp) => (bp.PipelineName = 'My_Analysis'),
      'PipelineName',
      /lowercase letters, digits and dashes/,
    ],
    ['PipelineName too long', (bp) => (bp.PipelineName = 'a'.repeat(41)), 'PipelineName', /1-40/],
    [
      'PipelineName ending in a dash',
      (bp) => (bp.PipelineName = 'abc-'),
      'PipelineName',
      /not starting or ending with a dash/,
    ],
    ['PipelineName missing', (bp) => delete bp.PipelineName, 'PipelineName', /is required/],
    [
      'REGION not a region',
      (bp) => (bp.REGION = 'mars'),
      'REGION',
      /an AWS region like us-east-1; got "mars"/,
    ],
    [
      'AMI of the wrong shape',
      (bp) => (bp.Lambda.LambdaConfig.AMI = 'ami-xyz'),
      'Lambda.LambdaConfig.AMI',
      /ami-0123456789abcdef0/,
    ],
    [
      'AMI missing for ec2',
      (bp) => delete bp.Lambda.LambdaConfig.AMI,
      'Lambda.LambdaConfig.AMI',
      /required for the ec2 runtime/,
    ],
    [
      'instance type not a type',
      (bp) => (bp.Lambda.LambdaConfig.INSTANCE_TYPE = 'huge'),
      'Lambda.LambdaConfig.INSTANCE_TYPE',
      /like m5.xlarge/,
    ],
    [
      'COMMAND with three placeholders',
      (bp) => (bp.Lambda.LambdaConfig.COMMAND = 'run {} {} {}'),
      'Lambda.LambdaConfig.COMMAND',
      /exactly four \{\}/,
    ],
    [
      'COMMAND with five placeholders',
      (bp) => (bp.Lambda.LambdaConfig.COMMAND = 'run {} {} {} {} {}'),
      'Lambda.LambdaConfig.COMMAND',
      /exactly four/,
    ],
    [
      'COMMAND missing',
      (bp) => delete bp.Lambda.LambdaConfig.COMMAND,
      'Lambda.LambdaConfig.COMMAND',
      /is required/,
    ],
    [
      'MAXCOST negative',
      (bp) => (bp.Lambda.LambdaConfig.MAXCOST = -5),
      'Lambda.LambdaConfig.MAXCOST',
      /greater than 0.*got -5/,
    ],
    [
      'MAXCOST text',
      (bp) => (bp.Lambda.LambdaConfig.MAXCOST = 'lots'),
      'Lambda.LambdaConfig.MAXCOST',
      /e\.g\. 300 or "300"; got "lots"/,
    ],
    [
      'DEPLOY_LIMIT zero',
      (bp) => (bp.Lambda.LambdaConfig.DEPLOY_LIMIT = 0),
      'Lambda.LambdaConfig.DEPLOY_LIMIT',
      /greater than 0/,
    ],
    [
      'DEPLOY_LIMIT fractional',
      (bp) => (bp.Lambda.LambdaConfig.DEPLOY_LIMIT = 2.5),
      'Lambda.LambdaConfig.DEPLOY_LIMIT',
      /whole number/,
    ],
    [
      'SSM_TIMEOUT a list',
      (bp) => (bp.Lambda.LambdaConfig.SSM_TIMEOUT = [1]),
      'Lambda.LambdaConfig.SSM_TIMEOUT',
      /SSM_TIMEOUT in seconds/,
    ],
    [
      'MONITOR yes',
      (bp) => (bp.Lambda.LambdaConfig.MONITOR = 'yes'),
      'Lambda.LambdaConfig.MONITOR',
      /true or false/,
    ],
    [
      'SHUTDOWN_BEHAVIOR hibernate',
      (bp) => (bp.Lambda.LambdaConfig.SHUTDOWN_BEHAVIOR = 'hibernate'),
      'Lambda.LambdaConfig.SHUTDOWN_BEHAVIOR',
      /terminate/,
    ],
    ['no affiliates', (bp) => (bp.UXData.Affiliates = []), 'UXData.Affiliates', /at least one/],
    [
      'group with a slash',
      (bp) => (bp.UXData.Affiliates[0].AffiliateName = 'lab/x'),
      'UXData.Affiliates[0].AffiliateName',
      /S3 prefix/,
    ],
    [
      'group with a space',
      (bp) => (bp.UXData.Affiliates[1].AffiliateName = 'my lab'),
      'UXData.Affiliates[1].AffiliateName',
      /letters, digits/,
    ],
    [
      'duplicate group ignoring case',
      (bp) => (bp.UXData.Affiliates[1].AffiliateName = 'LAB'),
      'UXData.Affiliates[1].AffiliateName',
      /duplicate group "LAB" \(also Affiliates\[0\]\)/,
    ],
    [
      'UserNames a string',
      (bp) => (bp.UXData.Affiliates[0].UserNames = 'alice'),
      'UXData.Affiliates[0].UserNames',
      /a list of existing IAM user names/,
    ],
    [
      'user name with a space',
      (bp) => (bp.UXData.Affiliates[0].UserNames = ['a b']),
      'UXData.Affiliates[0].UserNames[0]',
      /IAM user name/,
    ],
    ['UXData missing', (bp) => delete bp.UXData, 'UXData', /is required/],
    ['Runtime unknown', (bp) => (bp.Runtime = 'lambda'), 'Runtime', /"ec2" or "batch"/],
    ['batch without Container', (bp) => (bp.Runtime = 'batch'), 'Container', /required \(with Image\)/],
    [
      'typo in an extension',
      (bp) => (bp.Submissions = { MaxDataset: 3 }),
      'Submissions',
      /unknown key "MaxDataset"/,
    ],
    [
      'allowed instance type malformed',
      (bp) => (bp.Submissions = { AllowedInstanceTypes: ['gpu'] }),
      'Submissions.AllowedInstanceTypes[0]',
      /instance type/,
    ],
    [
      'VPC id malformed',
      (bp) =>
        (bp.Network = {
          VpcId: 'my-vpc',
          AvailabilityZones: ['us-east-1a'],
          SubnetIds: ['subnet-0123456789abcdef0'],
        }),
      'Network.VpcId',
      /vpc-/,
    ],
    [
      'notification address malformed',
      (bp) => (bp.Notifications = { Emails: ['not-an-address'] }),
      'Notifications.Emails[0]',
      /email address/,
    ],
    [
      'notification Emails a single string',
      (bp) => (bp.Notifications = { Emails: 'ops@example.org' }),
      'Notifications.Emails',
      /a list of email addresses; got "ops@example.org"/,
    ],
    [
      'notification Events a single string',
      (bp) => (bp.Notifications = { Events: 'FAIL' }),
      'Notifications.Events',
      /a list of BEGIN, END, FAIL, RETRY or ALL/,
    ],
    [
      'notification event unknown',
      (bp) => (bp.Notifications = { Events: ['BEGIN', 'DONE'] }),
      'Notifications.Events[1]',
      /expected BEGIN, END, FAIL, RETRY or ALL; got "DONE"/,
    ],
    [
      'notification group not an affiliate, with the known groups',
      (bp) => (bp.Notifications = { Groups: { labA: { Events: ['FAIL'] } } }),
      'Notifications.Groups.labA',
      /^"labA" is not a group of this blueprint: name one of the UXData.Affiliates: "lab", "lab2"$/,
    ],
    [
      'notification group in the wrong case',
      (bp) => (bp.Notifications = { Groups: { LAB2: {} } }),
      'Notifications.Groups.LAB2',
      /case-sensitive: did you mean "lab2"\?\): name one of the UXData.Affiliates: "lab", "lab2"/,
    ],
    [
      'notification group named like an object property',
      (bp) => (bp.Notifications = { Groups: { constructor: { Events: ['FAIL'] } } }),
      'Notifications.Groups.constructor',
      /"constructor" is not a group of this blueprint/,
    ],
    [
      'notification group named __proto__ (which zod would drop unchecked)',
      (bp) => (bp.Notifications = JSON.parse('{"Groups": {"__proto__": {"Events": ["FAIL"]}}}')),
      'Notifications.Groups.__proto__',
      /"__proto__" is not a group of this blueprint: name one of the UXData.Affiliates: "lab", "lab2"/,
    ],
    [
      'notification Groups a list of names',
      (bp) => (bp.Notifications = { Groups: ['lab'] }),
      'Notifications.Groups',
      /an object of group name -> \{ "Events": \[...\], "Emails": \[...\] \}; got a list/,
    ],
    [
      'notification Groups a string',
      (bp) => (bp.Notifications = { Groups: 'lab' }),
      'Notifications.Groups',
      /an object of group name/,
    ],
    [
      "a group's choice null",
      (bp) => (bp.Notifications = { Groups: { lab: null } }),
      'Notifications.Groups.lab',
      /expected an object with "Events" and\/or "Emails"; got null/,
    ],
    [
      "a group's choice a list of events",
      (bp) => (bp.Notifications = { Groups: { lab: ['FAIL'] } }),
      'Notifications.Groups.lab',
      /expected an object with "Events" and\/or "Emails"; got a list/,
    ],
    [
      "a group's Events a single string",
      (bp) => (bp.Notifications = { Groups: { lab: { Events: 'FAIL' } } }),
      'Notifications.Groups.lab.Events',
      /a list of BEGIN, END, FAIL, RETRY or ALL \(\[\] sends nothing\); got "FAIL"/,
    ],
    [
      "a group's event in lower case",
      (bp) => (bp.Notifications = { Groups: { lab: { Events: ['fail'] } } }),
      'Notifications.Groups.lab.Events[0]',
      /expected BEGIN, END, FAIL, RETRY or ALL; got "fail"/,
    ],
    [
      "a group's event not a string",
      (bp) => (bp.Notifications = { Groups: { lab2: { Events: ['END', 3] } } }),
      'Notifications.Groups.lab2.Events[1]',
      /expected BEGIN, END, FAIL, RETRY or ALL; got 3/,
    ],
    [
      "a group's address malformed",
      (bp) => (bp.Notifications = { Groups: { lab: { Emails: ['pi at lab.org'] } } }),
      'Notifications.Groups.lab.Emails[0]',
      /expected an email address; got "pi at lab.org"/,
    ],
    [
      "a group's address empty",
      (bp) => (bp.Notifications = { Groups: { lab: { Emails: [''] } } }),
      'Notifications.Groups.lab.Emails[0]',
      /an email address is empty/,
    ],
    [
      "a group's Emails a single string",
      (bp) => (bp.Notifications = { Groups: { lab: { Emails: 'pi@lab.org' } } }),
      'Notifications.Groups.lab.Emails',
      /a list of email addresses/,
    ],
    [
      "a typo in a group's choice",
      (bp) => (bp.Notifications = { Groups: { lab: { Event: ['FAIL'] } } }),
      'Notifications.Groups.lab',
      /unknown key "Event"/,
    ],
    [
      'a typo in Notifications.Groups',
      (bp) => (bp.Notifications = { Group: { lab: { Events: ['FAIL'] } } }),
      'Notifications',
      /unknown key "Group"/,
    ],
  ];

  test.each(cases)('%s', (_name, mutate, field, message) => {
    const problems = problemsOf(variant(mutate));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: field, message: expect.stringMatching(message) }),
      ]),
    );
  });

  test('every problem is reported at once', () => {
    const problems = problemsOf(
      variant((bp) => {
        bp.PipelineName = 'Bad Name';
        bp.Lambda.LambdaConfig.AMI = 'ami-1';
        bp.Lambda.LambdaConfig.MAXCOST = 0;
        bp.UXData.Affiliates[1].AffiliateName = 'Lab';
      }),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'PipelineName',
      'Lambda.LambdaConfig.AMI',
      'Lambda.LambdaConfig.MAXCOST',
      'UXData.Affiliates[1].AffiliateName',
    ]);
  });

  test("a group's problems are reported with every other problem, each path once", () => {
    const problems = problemsOf(
      variant((bp) => {
        bp.REGION = 'moon';
        bp.Notifications = {
          Events: ['NEVER'],
          Groups: { lab: { Events: ['SOMETIMES'], Emails: ['x'] }, nolab: {}, lab2: { Events: [] } },
        };
      }),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'REGION',
      'Notifications.Events[0]',
      'Notifications.Groups.lab.Events[0]',
      'Notifications.Groups.lab.Emails[0]',
      'Notifications.Groups.nolab',
    ]);
  });

  test('a blueprint that is not an object says so', () => {
    expect(problemsOf([])).toEqual([
      { path: '', message: 'expected the blueprint to be a JSON object; got a list' },
    ]);
  });

  test('the error names the file, each path and message, one per line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-'));
    const file = path.join(dir, 'broken.json');
    fs.writeFileSync(file, JSON.stringify(variant((bp) => (bp.REGION = 'moon'))));
    expect(() => loadBlueprintFile(file)).toThrow(BlueprintError);
    expect(() => loadBlueprintFile(file)).toThrow(
      `${file}: REGION: expected REGION: an AWS region like us-east-1; got "moon"`,
    );
  });

  test('a file that is not JSON, or missing, is named with the reason', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-'));
    const file = path.join(dir, 'notjson.json');
    fs.writeFileSync(file, '{ "PipelineName": ');
    expect(() => loadBlueprintFile(file)).toThrow(/notjson\.json: \(file\): not valid JSON/);
    expect(() => loadBlueprintFile(path.join(dir, 'absent.json'))).toThrow(
      /absent\.json: \(file\): cannot read the blueprint: no such file/,
    );
  });
});

describe('selection and the JSON Schema', () => {
  test('a bare name is a file in blueprints/, anything else a path', () => {
    expect(resolveBlueprintPath('mock', '/repo/blueprints')).toBe('/repo/blueprints/mock.json');
    expect(resolveBlueprintPath('other/x.json', '/repo/blueprints')).toBe(path.resolve('other/x.json'));
  });

  test('the committed JSON Schema is the one the schema exports, and mock.json names it', () => {
    const committed = JSON.parse(
      fs.readFileSync(path.join(PROJECT_ROOT, 'schema', 'blueprint.schema.json'), 'utf8'),
    );
    expect(committed).toEqual(blueprintJsonSchema());
    const mock = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'blueprints', 'mock.json'), 'utf8'));
    expect(mock.$schema).toBe('../schema/blueprint.schema.json');
    expect(committed.properties.Lambda).toBeDefined();
    expect(committed.properties.Runtime.enum).toEqual(['ec2', 'batch']);
  });
});
