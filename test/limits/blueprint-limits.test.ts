/**
 * The limits check on a real synthesized blueprint: 10 groups of 5 IAM users each (one synth, no
 * bundling). It asserts what the measurements are, computed independently, not whether the current
 * design passes: the bucket policy is measured against the same document resolved by the policy
 * simulation's own resolver (test/support/policy-simulation.ts), with its placeholder names replaced
 * by the realistic ones.
 */
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AWS_LIMITS } from '../../lib/limits/aws-limits';
import { ANALYSIS_STACK_ID, synthesizeWithoutBundling } from '../../lib/limits/blueprint-limits';
import { checkAssemblyLimits, type LimitsReport } from '../../lib/limits/check-assembly-limits';
import { loadStackTemplates } from '../../lib/limits/assembly-templates';
import { resourcesOfType } from '../../lib/limits/cfn-template';
import { ResolutionNotes } from '../../lib/limits/resolution-notes';
import { allStackTemplates, type StackTemplate } from '../../lib/limits/stack-templates';
import { PolicyModel } from '../support/policy-simulation';
import { configFrom, neurocaasBlueprint } from '../support/synth';

const GROUPS = 10;
const USERS = 5;

const config = configFrom(
  neurocaasBlueprint({
    UXData: {
      Affiliates: Array.from({ length: GROUPS }, (_, g) => ({
        AffiliateName: `lab${g}`,
        UserNames: Array.from({ length: USERS }, (__, u) => `researcher-${g}-${u}`),
        UserInput: true,
        ContactEmail: 'NOTE: placeholder',
      })),
    },
  }),
);

let outdir: string;
let assembly: CloudAssembly;
let report: LimitsReport;
let stacks: StackTemplate[];

beforeAll(() => {
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-limits-test-'));
  assembly = synthesizeWithoutBundling(config, outdir);
  report = checkAssemblyLimits(assembly, ANALYSIS_STACK_ID, { config });
  stacks = allStackTemplates(loadStackTemplates(assembly, ANALYSIS_STACK_ID, new ResolutionNotes()));
});

afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

const measurementsOf = (name: string) => report.measurements.filter((m) => m.name === name);

test(`${GROUPS} groups of ${USERS} users: each bucket policy's size is the minified JSON of its resolved document`, () => {
  const [root] = stacks;
  const model = PolicyModel.fromTemplate(Template.fromJSON(root.template as Record<string, unknown>));
  const policies = resourcesOfType(root.template, 'AWS::S3::BucketPolicy');
  expect(policies.length).toBeGreaterThan(0);
  for (const [id, policy] of policies) {
    // The simulation names a bucket by its logical id and a role by its logical id: put the
    // names CloudFormation generates in their place.
    let json = JSON.stringify(model.resolve(policy.Properties?.PolicyDocument));
    for (const [bucketId] of resourcesOfType(root.template, 'AWS::S3::Bucket')) {
      json = json.split(`:::${bucketId.toLowerCase()}`).join(`:::${String(root.resolver.ref(bucketId))}`);
    }
    for (const [roleId] of resourcesOfType(root.template, 'AWS::IAM::Role')) {
      json = json.split(`:role/${roleId}"`).join(`:role/${String(root.resolver.ref(roleId))}"`);
    }
    const measured = measurementsOf(AWS_LIMITS.bucketPolicy.name).find(
      (m) => m.where === `${root.where}/${id}`,
    );
    expect({ id, bytes: measured?.value }).toEqual({ id, bytes: Buffer.byteLength(json, 'utf8') });
  }
});

test('template sizes are the files CDK wrote; resources, outputs and parameters are counted per template', () => {
  const artifact = assembly.getStackArtifact(ANALYSIS_STACK_ID);
  expect(stacks[0].templateBytes).toBe(fs.statSync(artifact.templateFullPath).size);
  // Every template CDK wrote for this stack (nested stacks included) is measured, at its file's size.
  const written = fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json'));
  expect(stacks).toHaveLength(written.length);
  const sum = (sizes: number[]) => sizes.reduce((a, b) => a + b, 0);
  expect(sum(stacks.map((s) => s.templateBytes))).toBe(
    sum(written.map((f) => fs.statSync(path.join(outdir, f)).size)),
  );
  for (const stack of stacks) {
    const at = (name: string) =>
      report.measurements.find((m) => m.name === name && m.where === stack.where)?.value;
    expect(at(AWS_LIMITS.templateSize.name)).toBe(stack.templateBytes);
    expect(at(AWS_LIMITS.resources.name)).toBe(Object.keys(stack.template.Resources ?? {}).length);
    expect(at(AWS_LIMITS.outputs.name)).toBe(Object.keys(stack.template.Outputs ?? {}).length);
    expect(at(AWS_LIMITS.parameters.name)).toBe(Object.keys(stack.template.Parameters ?? {}).length);
  }
});

test('every Lambda function, role, managed policy and the EC2 workers are measured', () => {
  const count = (type: string) => stacks.reduce((n, s) => n + resourcesOfType(s.template, type).length, 0);
  expect(measurementsOf(AWS_LIMITS.managedPolicy.name)).toHaveLength(count('AWS::IAM::ManagedPolicy'));
  expect(measurementsOf(AWS_LIMITS.trustPolicyMaximum.name)).toHaveLength(count('AWS::IAM::Role'));
  expect(measurementsOf(AWS_LIMITS.lambdaEnvironment.name).length).toBeGreaterThan(0);
  expect(measurementsOf(AWS_LIMITS.userData.name).map((m) => m.where)).toEqual([
    `EC2 worker user data (maximal job of group lab0)`,
  ]);
});

// 1, 10, 50 and 200 groups within every limit, EC2 and Batch: test/limits/many-groups.test.ts.
