import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

export interface DevInstanceAccessProps {
  readonly analysisName: string;
  readonly vpc: ec2.IVpc;
  /** Where a dev instance launches (the first of the workers' subnets). */
  readonly subnets: ec2.SubnetSelection;
}

/**
 * What an analysis developer's dev instance (`ncaas dev launch`) runs with: a role of its own that
 * lets the SSM agent open Session Manager sessions (the way in) and nothing else (no group's data, no
 * job table: it is never a worker role), its instance profile, and a security group with no inbound
 * rule. The stack output `DevInstance` names the three for the CLI. Nothing here bills while no
 * dev instance runs.
 */
export class DevInstanceAccess extends Construct {
  readonly role: iam.Role;
  readonly instanceProfile: iam.InstanceProfile;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: DevInstanceAccessProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `ncaas ${props.analysisName} dev instances: no inbound traffic (SSM Session Manager)`,
      allowAllOutbound: true,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `ncaas ${props.analysisName} dev instance: SSM Session Manager only; no group's data`,
    });
    // Session Manager's documented minimum for the instance (narrower than AmazonSSMManagedInstanceCore,
    // which also allows Run Command, parameters and associations).
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'ssm:UpdateInstanceInformation',
          'ssmmessages:CreateControlChannel',
          'ssmmessages:CreateDataChannel',
          'ssmmessages:OpenControlChannel',
          'ssmmessages:OpenDataChannel',
        ],
        resources: ['*'],
      }),
    );
    NagSuppressions.addResourceSuppressions(
      this.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "The SSM agent's Session Manager actions (ssmmessages:*Channel, ssm:UpdateInstanceInformation) are granted on '*' as AWS documents them: the channel actions have no resource-level permissions, and the instance's own id is not known before it is launched.",
        },
        {
          id: 'NIST.800.53.R5-IAMNoInlinePolicy',
          reason:
            "The dev role's policy (AWS::IAM::Policy) belongs to this one role and is created, changed and deleted with it; a customer managed policy would add a resource without narrowing any permission.",
        },
      ],
      true,
    );
    this.instanceProfile = new iam.InstanceProfile(this, 'Profile', { role: this.role });

    const subnet = props.vpc.selectSubnets(props.subnets).subnetIds[0];
    new CfnOutput(Stack.of(this), 'DevInstance', {
      description:
        'For `ncaas dev launch`: export NCAAS_DEV_INSTANCE_PROFILE, NCAAS_DEV_SECURITY_GROUP and NCAAS_DEV_SUBNET from these',
      value: Stack.of(this).toJsonString({
        instanceProfile: this.instanceProfile.instanceProfileName,
        securityGroup: this.securityGroup.securityGroupId,
        subnet,
      }),
    });
  }
}
