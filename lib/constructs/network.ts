import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { ExistingVpcConfig } from '../blueprint/analysis-config';

export interface NetworkProps {
  /** Use this VPC instead of creating one; imported from its ids, with no synth-time lookup. */
  readonly existingVpc?: ExistingVpcConfig;
  /** Where the new VPC's flow logs go. */
  readonly flowLogBucket: s3.IBucket;
  /** Availability zones for the new VPC (a launch falls back to the next subnet on capacity errors). @default 2 */
  readonly maxAzs?: number;
}

/**
 * Where workers run. By default a VPC with public subnets only: no NAT gateway and no interface
 * endpoint, so nothing bills by the hour while no job runs. Workers have no inbound rule; S3 and
 * DynamoDB traffic stays on the free gateway endpoints.
 */
export class Network extends Construct {
  readonly vpc: ec2.IVpc;
  /** Subnets workers launch into, in the order a launch tries them. */
  readonly workerSubnets: ec2.SubnetSelection;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    if (props.existingVpc) {
      const { vpcId, availabilityZones, subnetIds } = props.existingVpc;
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Existing', {
        vpcId,
        availabilityZones: [...availabilityZones],
        publicSubnetIds: [...subnetIds],
      });
      this.workerSubnets = {
        subnets: subnetIds.map((s, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, s)),
      };
      return;
    }
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: props.maxAzs ?? 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'workers', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 22 }],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
      // Flow logs to S3 bill per GB delivered, never by the hour.
      flowLogs: {
        toS3: {
          destination: ec2.FlowLogDestination.toS3(props.flowLogBucket, 'vpc-flow-logs/'),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
      restrictDefaultSecurityGroup: true,
    });
    NagSuppressions.addResourceSuppressions(
      vpc,
      [
        {
          id: 'NIST.800.53.R5-VPCSubnetAutoAssignPublicIpDisabled',
          reason:
            'Workers get a public IP instead of a NAT gateway (about $32/month per AZ while idle): it is their way out to AWS APIs and package or image registries. Nothing can come in: the worker security group has no inbound rule, and instances exist only while a job runs (IPv4 addresses bill only then).',
        },
        {
          id: 'NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW',
          reason:
            'The default route to the internet gateway is the outbound path of the public subnets that replaces a NAT gateway (no idle cost). S3 and DynamoDB traffic takes the gateway endpoints; inbound traffic is refused by the worker security group, which has no inbound rule.',
        },
      ],
      true,
    );
    this.vpc = vpc;
    this.workerSubnets = { subnetType: ec2.SubnetType.PUBLIC };
  }
}
