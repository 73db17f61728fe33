import { execFileSync, spawnSync } from 'node:child_process';
import { loadBlueprintFile } from '../../lib/blueprint/load-blueprint';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { nestedStacksOf } from '../support/merged-template';
import {
  configFrom,
  FIXTURE_BLUEPRINTS,
  neurocaasBlueprint,
  PROJECT_ROOT,
  consoleSiteStandIn,
  synthesizeFile,
  synthesize,
} from '../support/synth';

/**
 * cfn-lint (a current CloudFormation linter, on this machine image and CI's) finds template errors
 * that synth does not: wrong property types, bad references, values AWS refuses.
 */
test('cfn-lint reports no errors on the synthesized templates', () => {
  const which = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
  if (which.error)
    throw new Error('cfn-lint is not on PATH: install it (pip install cfn-lint) to run this check');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfn-lint-'));
  const stacks = {
    // With the web console (a stand-in for its built files), as bin/app.ts synthesizes it.
    mock: synthesize(loadBlueprintFile(path.join(PROJECT_ROOT, 'blueprints', 'mock.json')), {
      consoleSiteDir: consoleSiteStandIn(),
    }).stack,
    caiman: synthesizeFile(path.join(FIXTURE_BLUEPRINTS, 'caiman_dev_stack.json')).stack,
    batch: synthesize(
      configFrom(
        neurocaasBlueprint({
          Runtime: 'batch',
          Container: { Image: 'public.ecr.aws/docker/library/python:3.12', Gpus: 1 },
          Efs: { MountOnEc2Workers: true },
        }),
      ),
    ).stack,
  };
  // Each template as it is deployed: the analysis's and each of its nested stacks' (per-group shards).
  const files = Object.entries(stacks).flatMap(([name, stack]) =>
    [stack, ...nestedStacksOf(stack)].map((each, i) => {
      const file = path.join(dir, `${name}-${i}.template.json`);
      fs.writeFileSync(file, JSON.stringify(Template.fromStack(each).toJSON()));
      return file;
    }),
  );
  expect(files.length).toBeGreaterThan(Object.keys(stacks).length);
  // Exit status is a bit mask: 2 = errors, 4 = warnings, 8 = informational. Only errors fail.
  let status = 0;
  let output = '';
  try {
    output = execFileSync('cfn-lint', ['--format', 'parseable', ...files], { encoding: 'utf8' });
  } catch (err) {
    const e = err as { status: number; stdout: string };
    status = e.status;
    output = e.stdout;
  }
  const errors = output.split('\n').filter((line) => /:E\d{4}:/.test(line));
  expect(errors).toEqual([]);
  expect(status & 2).toBe(0);
}, 60_000);
