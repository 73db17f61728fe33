import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { configsPrefix, devRunFoldersPrefix, inputsPrefix, jobResultFolder } from '../layout';

export interface DevInstanceAccessProps {
  readonly analysisName: string;
  readonly vpc: ec2.IVpc;
  /** Where a dev instance launches (the first of the workers' subnets). */
  readonly subnets: ec2.SubnetSelection;
  /** The analysis bucket: `ncaas dev run` stages a group's inputs and config and writes its job folder. */
  readonly bucket: s3.IBucket;
  /** The groups that submit jobs (a dev run is checked like their submissions). */
  readonly groups: readonly string[];
}

/**
 * What an analysis developer's dev instance (`ncaas dev launch`) runs with: a role of its own, its
 * instance profile, and a security group with no inbound rule. The stack output `DevInstance` names
 * the three for the CLI. Nothing here bills while no dev instance runs.
 *
 * The role lets the SSM agent open Session Manager sessions (the way in) and take Run Command's
 * commands (`ncaas dev run`), and lets the worker of a dev run do what a group's worker does, no more:
 * read the groups' inputs/ and configs/, write only dev runs' job folders
 * (`{group}/results/job__{analysis}_dev-*`), so a dev run can never touch a real job's results. No
 * submissions/, no other results, no job table: it is never a worker role.
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
      description: `ncaas ${props.analysisName} dev instance: SSM Session Manager and Run Command; dev runs' data only`,
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
    // Run Command's messages (the agent polls ec2messages for commands and replies there). Like the
    // channel actions above, these have no resource-level permissions.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'ec2messages:AcknowledgeMessage',
          'ec2messages:DeleteMessage',
          'ec2messages:FailMessage',
          'ec2messages:GetEndpoint',
          'ec2messages:GetMessages',
          'ec2messages:SendReply',
        ],
        resources: ['*'],
      }),
    );
    // A dev run's worker (worker/run-job.sh): stage the dataset (`aws s3 sync` lists a folder dataset)
    // and the config, upload results and logs (`sync` lists the destination first). One pattern per
    // folder whatever the number of groups (a role's policies hold 10,240 characters in all). S3 ARNs
    // have no one-segment wildcard (`*` matches `/` too), so each Allow is paired with a Deny:
    // - writes only where the dev folder is the second segment (`{group}/results/job__{a}_dev-*`):
    //   never `{group}/submissions/results/job__{a}_dev-1/submit.json` (a submission in any group's
    //   name) or a dev-named folder inside inputs/, configs/ or a real job's folder;
    // - reads of inputs/ and configs/, never of a job's folder that holds an `inputs/` folder.
    if (props.groups.length > 0) {
      const devFolders = devRunFoldersPrefix('*', props.analysisName);
      this.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [props.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${inputsPrefix('*')}*`, `${devFolders}*`] } },
        }),
      );
      this.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [
            props.bucket.arnForObjects(`${inputsPrefix('*')}*`),
            props.bucket.arnForObjects(`${configsPrefix('*')}*`),
          ],
        }),
      );
      this.role.addToPolicy(
        new iam.PolicyStatement({
          effect: iam.Effect.DENY,
          actions: ['s3:GetObject'],
          resources: [props.bucket.arnForObjects(`${jobResultFolder('*', '*', '*')}`)],
        }),
      );
      this.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
          resources: [props.bucket.arnForObjects(`${devFolders}*`)],
        }),
      );
      this.role.addToPolicy(
        new iam.PolicyStatement({
          effect: iam.Effect.DENY,
          actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
          resources: [props.bucket.arnForObjects(`*/${devFolders}*`)],
        }),
      );
    }
    NagSuppressions.addResourceSuppressions(
      this.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "The SSM agent's Session Manager and Run Command actions (ssmmessages:*Channel, ec2messages:*, ssm:UpdateInstanceInformation) are granted on '*' as AWS documents them: they have no resource-level permissions, and the instance's own id is not known before it is launched. The object wildcards are confined to the groups' inputs/ and configs/ (read, what a dev run stages) and to dev runs' own job folders ({group}/results/job__{analysis}_dev-*, write), so a dev run never reaches submissions/ or a real job's results.",
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
