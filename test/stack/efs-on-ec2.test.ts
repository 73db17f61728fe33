/**
 * `Efs.MountOnEc2Workers` in the stack: the handlers learn the file system, and the launcher may look
 * up its access points (each group's, by root directory, lib/launch/efs-access-points.ts); without the
 * option they learn nothing.
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
  return { stack, template, variables: resource.Properties.Environment.Variables, nagFindings };
};

test('with the option, the launcher knows the file system (one variable) and may list its access points', () => {
  const { stack, template, variables, nagFindings } = launcherVariables(true);
  expect(nagFindings).toEqual([]);
  const files = childOf(stack, 'FileSystem', AnalysisFileSystem);
  expect(JSON.stringify(variables.NCAAS_EFS_FILE_SYSTEM_ID)).toContain(logicalIdOf(files.fileSystem));
  const launcherRole = logicalIdOf(childOf(stack, 'ControlPlane', ControlPlane).launcher.role);
  const describe = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p).includes(launcherRole))
    .flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: { Action: unknown }[] } } }).Properties
          .PolicyDocument.Statement,
    )
    .filter((st) => JSON.stringify(st.Action).includes('elasticfilesystem:DescribeAccessPoints'));
  expect(describe).toHaveLength(1);
  expect(JSON.stringify(describe[0])).toContain(logicalIdOf(files.fileSystem));
});

test('without it, EC2 workers are told nothing about EFS', () => {
  expect(launcherVariables(false).variables.NCAAS_EFS_FILE_SYSTEM_ID).toBeUndefined();
});
