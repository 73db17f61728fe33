/**
 * An analysis for many labs: EC2 and Batch blueprints with 1, 10, 50 and 200 groups of 5 IAM users
 * each (every group with a real ContactEmail, so each has a notification subscription) synthesize
 * within every AWS hard limit the check measures (lib/limits/), on the resolved templates; and what
 * sits in a size-limited place does not grow with the groups: the same size at 10 groups as at 200.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SHARDS } from '../../lib/constructs/group-shards';
import { AWS_LIMITS } from '../../lib/limits/aws-limits';
import { ANALYSIS_STACK_ID, synthesizeWithoutBundling } from '../../lib/limits/blueprint-limits';
import {
  checkAssemblyLimits,
  exceededLimits,
  type LimitsReport,
} from '../../lib/limits/check-assembly-limits';
import { formatExceeded } from '../../lib/limits/format-limits';
import { configFrom, neurocaasBlueprint } from '../support/synth';

const USERS = 5;
const COUNTS = [1, 10, 50, 200] as const;
const RUNTIMES = {
  ec2: {},
  batch: { Runtime: 'batch', Container: { Image: 'public.ecr.aws/docker/library/python:3.12' } },
} as const;

const blueprintWith = (groups: number, runtime: keyof typeof RUNTIMES) =>
  configFrom(
    neurocaasBlueprint({
      ...RUNTIMES[runtime],
      UXData: {
        // Names of one length, so a per-group policy has the same size in every analysis compared.
        Affiliates: Array.from({ length: groups }, (_, g) => ({
          AffiliateName: `lab${String(g).padStart(3, '0')}`,
          UserNames: Array.from(
            { length: USERS },
            (__, u) => `researcher-${String(g).padStart(3, '0')}-${u}`,
          ),
          UserInput: true,
          ContactEmail: `pi-${g}@lab${g}.example.org`,
        })),
      },
      Notifications: { Emails: ['ops@example.org'] },
    }),
  );

/** Synthesized once per runtime and count, measured, the assembly removed. */
const reports = new Map<string, LimitsReport>();
const reportOf = (runtime: keyof typeof RUNTIMES, groups: number): LimitsReport => {
  const key = `${runtime}/${groups}`;
  const known = reports.get(key);
  if (known) return known;
  const config = blueprintWith(groups, runtime);
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-many-groups-'));
  try {
    const report = checkAssemblyLimits(synthesizeWithoutBundling(config, outdir), ANALYSIS_STACK_ID, {
      config,
    });
    reports.set(key, report);
    return report;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
};

/** The largest value of a limit in the analysis template itself (not a nested one), or across all. */
const largest = (report: LimitsReport, name: string, where?: (w: string) => boolean): number =>
  Math.max(
    0,
    ...report.measurements.filter((m) => m.name === name && (!where || where(m.where))).map((m) => m.value),
  );
const isRootTemplate = (where: string) => !where.includes('/');

describe.each(Object.keys(RUNTIMES) as (keyof typeof RUNTIMES)[])('%s runtime', (runtime) => {
  test.each(COUNTS)(`%i groups of ${USERS} users: every limit held`, (groups) => {
    const report = reportOf(runtime, groups);
    expect(report.measurements.length).toBeGreaterThan(20);
    expect(exceededLimits(report).map(formatExceeded)).toEqual([]);
  });

  test('nothing in a size-limited place grows from 10 groups to 200', () => {
    const [ten, many] = [reportOf(runtime, 10), reportOf(runtime, 200)];
    for (const name of [
      AWS_LIMITS.bucketPolicy.name,
      AWS_LIMITS.lambdaEnvironment.name,
      AWS_LIMITS.roleInlinePolicies.name,
      AWS_LIMITS.managedPolicy.name,
      AWS_LIMITS.trustPolicyMaximum.name,
      AWS_LIMITS.bucketNotifications.name,
    ]) {
      expect({ name, value: largest(many, name) }).toEqual({ name, value: largest(ten, name) });
    }
    // The analysis template holds one nested stack per shard at most, whatever the number of groups.
    const rootResources = (r: LimitsReport) => largest(r, AWS_LIMITS.resources.name, isRootTemplate);
    expect(rootResources(many) - rootResources(reportOf(runtime, 1))).toBeLessThanOrEqual(SHARDS - 1);
  });
});
