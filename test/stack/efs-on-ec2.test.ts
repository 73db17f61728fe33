/**
 * `Efs.MountOnEc2Workers` in the stack: the handlers learn the file system and each group's access
 * point (the launcher puts them in the worker's job); without the option they learn nothing.
 */
import { AnalysisFileSystem } from '../../lib/constructs/file-system';
import { ControlPlane } from '../../lib/constructs/control-plane';
import { childOf, logicalIdOf } from '../support/policy-simulation';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';

const launcherVariables = (mount: boolean) => {
  const { stack, template, nagFindings } = synthesize(
    configFrom(neurocaasBlueprint(mount ? { Efs: { MountOnEc2Workers: true } } : {})),
  );
  const launcher = childOf(stack, 'ControlPlane', ControlPlane).launcher;
  const resource = template.toJSON().Resources[logicalIdOf(launcher)] as {
    Properties: { Environment: { Variables: Record<string, unknown> } };
  };
  return { stack, variables: resource.Properties.Environment.Variables, nagFindings };
};

test('with the option, the launcher knows the file system and every access point', () => {
  const { stack, variables, nagFindings } = launcherVariables(true);
  expect(nagFindings).toEqual([]);
  const files = childOf(stack, 'FileSystem', AnalysisFileSystem);
  const text = JSON.stringify(variables.NCAAS_EFS);
  expect(text).toContain(logicalIdOf(files.fileSystem));
  for (const group of ['lab', 'lab2']) expect(text).toContain(logicalIdOf(files.accessPoints.get(group)));
});

test('without it, EC2 workers are told nothing about EFS', () => {
  expect(launcherVariables(false).variables.NCAAS_EFS).toBeUndefined();
});
