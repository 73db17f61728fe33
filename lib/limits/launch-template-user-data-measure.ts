/** User data written in the templates (launch templates, instances): its raw bytes, decoded from base64. */
import { AWS_LIMITS } from './aws-limits';
import { isRecord, resourcesOfType } from './cfn-template';
import { type LimitMeasurement, measured } from './limit-measurement';
import type { StackTemplate } from './stack-templates';

const rawBytes = (base64: string): number => Buffer.from(base64, 'base64').length;

export const measureTemplateUserData = (stacks: readonly StackTemplate[]): LimitMeasurement[] =>
  stacks.flatMap(({ where, template, resolver }) => [
    ...resourcesOfType(template, 'AWS::EC2::LaunchTemplate').flatMap(([id, launchTemplate]) => {
      const data = launchTemplate.Properties?.LaunchTemplateData;
      if (!isRecord(data) || data.UserData === undefined) return [];
      return [
        measured(AWS_LIMITS.userData, `${where}/${id}`, rawBytes(resolver.resolveText(data.UserData, id))),
      ];
    }),
    ...resourcesOfType(template, 'AWS::EC2::Instance')
      .filter(([, instance]) => instance.Properties?.UserData !== undefined)
      .map(([id, instance]) =>
        measured(
          AWS_LIMITS.userData,
          `${where}/${id}`,
          rawBytes(resolver.resolveText(instance.Properties?.UserData, id)),
        ),
      ),
  ]);
