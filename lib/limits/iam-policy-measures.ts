/**
 * IAM policy sizes, in characters without white space: each managed policy; each role's inline
 * policies together (its `Policies`, and every AWS::IAM::Policy or AWS::IAM::RolePolicy naming it, in
 * any template of the stack: roles are matched by their resolved names); each role's trust policy,
 * against the default quota (a warning) and the maximum quota.
 */
import { AWS_LIMITS } from './aws-limits';
import { asList, isRecord, resourcesOfType } from './cfn-template';
import { type LimitMeasurement, measured } from './limit-measurement';
import { iamPolicyCharacters } from './policy-size';
import type { StackTemplate } from './stack-templates';

export const measureManagedPolicies = (stacks: readonly StackTemplate[]): LimitMeasurement[] =>
  stacks.flatMap(({ where, template, resolver }) =>
    resourcesOfType(template, 'AWS::IAM::ManagedPolicy').map(([id, policy]) =>
      measured(
        AWS_LIMITS.managedPolicy,
        `${where}/${id}`,
        iamPolicyCharacters(resolver.resolve(policy.Properties?.PolicyDocument, id)),
      ),
    ),
  );

export const measureTrustPolicies = (stacks: readonly StackTemplate[]): LimitMeasurement[] =>
  stacks.flatMap(({ where, template, resolver }) =>
    resourcesOfType(template, 'AWS::IAM::Role').flatMap(([id, role]) => {
      const characters = iamPolicyCharacters(resolver.resolve(role.Properties?.AssumeRolePolicyDocument, id));
      return [
        measured(AWS_LIMITS.trustPolicyDefault, `${where}/${id}`, characters),
        measured(AWS_LIMITS.trustPolicyMaximum, `${where}/${id}`, characters),
      ];
    }),
  );

export const measureRoleInlinePolicies = (stacks: readonly StackTemplate[]): LimitMeasurement[] => {
  /** Role name -> where the role is declared, and the characters of each inline policy. */
  const roles = new Map<string, { where?: string; policies: number[] }>();
  const entry = (name: string) => {
    let found = roles.get(name);
    if (!found) roles.set(name, (found = { policies: [] }));
    return found;
  };
  for (const { where, template, resolver } of stacks) {
    for (const [id, role] of resourcesOfType(template, 'AWS::IAM::Role')) {
      const declared = entry(resolver.physicalName(id));
      declared.where = `${where}/${id}`;
      for (const inline of asList(role.Properties?.Policies)) {
        if (!isRecord(inline)) continue;
        declared.policies.push(iamPolicyCharacters(resolver.resolve(inline.PolicyDocument, id)));
      }
    }
    for (const [id, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
      const characters = iamPolicyCharacters(resolver.resolve(policy.Properties?.PolicyDocument, id));
      for (const role of asList(resolver.resolve(policy.Properties?.Roles, id))) {
        entry(String(role)).policies.push(characters);
      }
    }
    for (const [id, policy] of resourcesOfType(template, 'AWS::IAM::RolePolicy')) {
      const characters = iamPolicyCharacters(resolver.resolve(policy.Properties?.PolicyDocument, id));
      entry(resolver.resolveText(policy.Properties?.RoleName, id)).policies.push(characters);
    }
  }
  return [...roles]
    .filter(([, role]) => role.policies.length > 0)
    .map(([name, role]) =>
      measured(
        AWS_LIMITS.roleInlinePolicies,
        role.where ?? `role ${name} (not in this assembly)`,
        role.policies.reduce((sum, characters) => sum + characters, 0),
      ),
    );
};
