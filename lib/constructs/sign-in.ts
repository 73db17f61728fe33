import { CfnOutput, CustomResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { REFRESH_TOKEN_DAYS } from '../access/session-length';
import type { SignInConfig } from '../blueprint/analysis-config';
import { NodeLambda } from './node-lambda';

export interface SignInProps {
  readonly analysisName: string;
  readonly signIn: SignInConfig;
}

/**
 * The analysis's own sign-in, so a lab member needs an email address and nothing from IAM: a Cognito
 * user pool (email as the username, a strong password, optional or required TOTP, self sign-up only
 * when the blueprint allows it and only for its email domains), an app client for the CLI and the
 * console (SRP: the password never leaves the person's machine), and an identity pool that turns a
 * signed-in person's token into credentials of one of their groups' member roles (lib/constructs/
 * group-access.ts): `Token` role mapping, so the role comes from the person's Cognito groups, and a
 * person in no group gets nothing (ambiguous or none: Deny). One Cognito group per affiliate is added
 * by `addGroup`.
 *
 * Nothing bills while idle: the Lite plan charges per monthly active user beyond its free tier, and
 * threat protection (advanced security, which bills) is off. The pool is retained with the data.
 */
export class SignIn extends Construct {
  readonly userPool: cognito.UserPool;
  readonly client: cognito.UserPoolClient;
  readonly identityPool: cognito.CfnIdentityPool;
  private readonly analysisName: string;

  constructor(scope: Construct, id: string, props: SignInProps) {
    super(scope, id);
    const { signIn } = props;
    this.analysisName = props.analysisName;
    this.userPool = new cognito.UserPool(this, 'Users', {
      userPoolName: `ncaas-${props.analysisName}`,
      featurePlan: cognito.FeaturePlan.LITE,
      signInAliases: { email: true },
      // Ana@Lab.org and ana@lab.org are one person (it cannot be changed once the pool exists).
      signInCaseSensitive: false,
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      selfSignUpEnabled: signIn.selfSignUp,
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(7),
      },
      mfa: { OFF: cognito.Mfa.OFF, OPTIONAL: cognito.Mfa.OPTIONAL, REQUIRED: cognito.Mfa.REQUIRED }[
        signIn.mfa
      ],
      ...(signIn.mfa === 'OFF' ? {} : { mfaSecondFactor: { otp: true, sms: false } }),
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(this.userPool, [
      ...(signIn.mfa === 'REQUIRED'
        ? []
        : [
            {
              id: 'AwsSolutions-COG2',
              reason: `The blueprint sets SignIn.Mfa to ${signIn.mfa}: each person may add a TOTP factor; an analysis that needs one for everyone sets "REQUIRED".`,
            },
          ]),
      ...['AwsSolutions-COG3', 'AwsSolutions-COG8'].map((ruleId) => ({
        id: ruleId,
        reason:
          'Threat protection (advanced security) needs the Plus plan, which bills per monthly active user; the pool is on the Lite plan, with strong passwords and TOTP, so it costs nothing while idle and little in use. An operator who needs adaptive authentication can switch the plan.',
      })),
    ]);

    if (signIn.selfSignUp) {
      const trigger = new NodeLambda(this, 'PreSignUp', {
        entryName: 'pre-sign-up',
        description:
          `ncaas ${props.analysisName}: self sign-up only for ${signIn.allowedEmailDomains.join(', ')}`.slice(
            0,
            256,
          ),
        environment: { NCAAS_SIGN_UP_DOMAINS: signIn.allowedEmailDomains.join(',') },
        timeout: Duration.seconds(5),
      });
      this.userPool.addTrigger(cognito.UserPoolOperation.PRE_SIGN_UP, trigger);
      NagSuppressions.addResourceSuppressions(
        trigger,
        [
          {
            id: 'AwsSolutions-IAM4',
            reason: 'AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs.',
            appliesTo: [
              'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
            ],
          },
          {
            id: 'NIST.800.53.R5-LambdaDLQ',
            reason:
              'Cognito calls it synchronously during a sign-up and shows its refusal: there is no event to keep.',
          },
        ],
        true,
      );
    }

    this.client = this.userPool.addClient('Client', {
      userPoolClientName: 'ncaas',
      authFlows: { userSrp: true },
      generateSecret: false,
      preventUserExistenceErrors: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(REFRESH_TOKEN_DAYS),
    });

    this.identityPool = new cognito.CfnIdentityPool(this, 'Identities', {
      identityPoolName: `ncaas_${props.analysisName.replace(/-/g, '_')}`,
      allowUnauthenticatedIdentities: false,
      // Enhanced flow only: the role is the one the token's Cognito groups give, never one a caller names.
      allowClassicFlow: false,
      cognitoIdentityProviders: [
        {
          clientId: this.client.userPoolClientId,
          providerName: this.userPool.userPoolProviderName,
          serverSideTokenCheck: true,
        },
      ],
    });
    new cognito.CfnIdentityPoolRoleAttachment(this, 'RoleMapping', {
      identityPoolId: this.identityPool.ref,
      roleMappings: {
        groups: {
          type: 'Token',
          ambiguousRoleResolution: 'Deny',
          identityProvider: `${this.userPool.userPoolProviderName}:${this.client.userPoolClientId}`,
        },
      },
    });

    const stack = Stack.of(this);
    new CfnOutput(stack, 'UserPoolId', {
      value: this.userPool.userPoolId,
      description: 'Sign-in: the user pool',
    });
    new CfnOutput(stack, 'UserPoolClientId', {
      value: this.client.userPoolClientId,
      description: 'Sign-in: the app client of the CLI and the console',
    });
    new CfnOutput(stack, 'IdentityPoolId', {
      value: this.identityPool.ref,
      description: 'Sign-in: the identity pool that gives a signed-in member their group role',
    });
  }

  /**
   * Who may take a member role through this sign-in: identities of this identity pool, authenticated
   * (the token's `cognito:roles` then decides which role, `Token` mapping).
   */
  get memberPrincipal(): iam.IPrincipal {
    return new iam.FederatedPrincipal(
      'cognito-identity.amazonaws.com',
      {
        StringEquals: { 'cognito-identity.amazonaws.com:aud': this.identityPool.ref },
        'ForAnyValue:StringLike': { 'cognito-identity.amazonaws.com:amr': 'authenticated' },
      },
      'sts:AssumeRoleWithWebIdentity',
    );
  }

  /**
   * Invites `emails` to `group` at deploy (lambda/invite-members.ts), in `scope` (the group's shard),
   * after the group exists. Never deletes anyone: see the handler.
   */
  invite(
    scope: Construct,
    group: string,
    emails: readonly string[],
    cognitoGroup: cognito.CfnUserPoolGroup,
  ): void {
    const invitation = new CustomResource(scope, `Invitations-${group}`, {
      serviceToken: this.invitations().serviceToken,
      resourceType: 'Custom::NcaasInvitations',
      properties: { UserPoolId: this.userPool.userPoolId, Group: group, Emails: [...emails] },
    });
    invitation.node.addDependency(cognitoGroup);
  }

  private invitationProvider: cr.Provider | undefined;

  /** One provider for every group's invitations, made when the first group has UserEmails. */
  private invitations(): cr.Provider {
    if (this.invitationProvider) return this.invitationProvider;
    const handler = new NodeLambda(this, 'InviteMembers', {
      entryName: 'invite-members',
      description: `ncaas ${this.analysisName}: invites the blueprint's UserEmails at deploy`,
      environment: {},
      timeout: Duration.minutes(5),
    });
    handler.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['cognito-idp:AdminCreateUser', 'cognito-idp:AdminAddUserToGroup'],
        resources: [this.userPool.userPoolArn],
      }),
    );
    const basicRole = {
      id: 'AwsSolutions-IAM4',
      reason: 'AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs.',
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
    };
    const deployOnly = {
      id: 'NIST.800.53.R5-LambdaDLQ',
      reason:
        'CloudFormation calls it during a deploy and fails the deploy when it fails: the event is the deploy, retried by deploying again.',
    };
    NagSuppressions.addResourceSuppressions(handler, [basicRole, deployOnly], true);
    this.invitationProvider = new cr.Provider(this, 'InvitationsProvider', {
      onEventHandler: handler,
      logGroup: new logs.LogGroup(this, 'InvitationsProviderLogs', {
        retention: logs.RetentionDays.THREE_MONTHS,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    NagSuppressions.addResourceSuppressions(
      this.invitationProvider,
      [
        basicRole,
        deployOnly,
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'The CDK provider framework may invoke the invitation function and its versions (`<function ARN>:*`); nothing else.',
        },
        {
          id: 'AwsSolutions-L1',
          reason: "The provider framework's runtime is chosen by aws-cdk-lib and moves with its releases.",
        },
      ],
      true,
    );
    return this.invitationProvider;
  }

  /** The Cognito group of an affiliate, whose members get `role` (in `scope`: its group's shard). */
  addGroup(scope: Construct, group: string, role: iam.IRole): cognito.CfnUserPoolGroup {
    return new cognito.CfnUserPoolGroup(scope, `SignInGroup-${group}`, {
      userPoolId: this.userPool.userPoolId,
      groupName: group,
      description: `ncaas: members of group ${group}`,
      roleArn: role.roleArn,
    });
  }
}
