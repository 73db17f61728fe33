/**
 * `Ec2.Spot` in the stack: Spot's interruption warnings reach the reconcile handler, which may then
 * launch an on-demand worker (RunInstances from the template, the Spot request's own resource only
 * with Spot, and EC2 Spot's service-linked role); without the option none of that exists.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { ControlPlane } from '../../lib/constructs/control-plane';
import { childOf, logicalIdOf } from '../support/policy-simulation';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';

type Statement = { Action: unknown; Resource?: unknown; Condition?: unknown };

const synth = (spot: boolean) => {
  const { stack, template, nagFindings } = synthesize(
    configFrom(neurocaasBlueprint(spot ? { Ec2: { Spot: true } } : {})),
  );
  const plane = childOf(stack, 'ControlPlane', ControlPlane);
  const statementsOf = (roleId: string): Statement[] =>
    Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p).includes(roleId))
      .flatMap(
        (p) =>
          (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
            .Statement,
      );
  return {
    template,
    nagFindings,
    reconcile: statementsOf(logicalIdOf(plane.reconcileHandler.role)),
    launcher: statementsOf(logicalIdOf(plane.launcher.role)),
  };
};

const withAction = (statements: Statement[], action: string) =>
  statements.filter((s) => JSON.stringify(s.Action).includes(action));

test('with Ec2.Spot: the warning rule, and the reconcile handler may relaunch on on-demand', () => {
  const { template, nagFindings, reconcile, launcher } = synth(true);
  expect(nagFindings).toEqual([]);
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: { source: ['aws.ec2'], 'detail-type': ['EC2 Spot Instance Interruption Warning'] },
    Targets: Match.arrayWith([Match.objectLike({ Arn: Match.anyValue() })]),
  });
  for (const statements of [launcher, reconcile]) {
    const run = withAction(statements, 'ec2:RunInstances');
    expect(run).toHaveLength(1);
    expect(JSON.stringify(run[0]?.Resource)).toContain('spot-instances-request/*');
    const linked = withAction(statements, 'iam:CreateServiceLinkedRole');
    expect(linked).toEqual([
      expect.objectContaining({
        Condition: { StringEquals: { 'iam:AWSServiceName': 'spot.amazonaws.com' } },
      }),
    ]);
    expect(JSON.stringify(linked[0]?.Resource)).toContain('AWSServiceRoleForEC2Spot');
    expect(withAction(statements, 'ec2:DescribeImages')).toHaveLength(1);
  }
});

test('without it: no warning rule, the reconcile handler launches nothing, and no Spot request is allowed', () => {
  const { template, reconcile, launcher } = synth(false);
  const rules = JSON.stringify(template.findResources('AWS::Events::Rule'));
  expect(rules).not.toContain('Spot Instance Interruption Warning');
  expect(withAction(reconcile, 'ec2:RunInstances')).toEqual([]);
  expect(JSON.stringify(launcher)).not.toContain('spot-instances-request');
  expect(JSON.stringify(launcher)).not.toContain('CreateServiceLinkedRole');
});
