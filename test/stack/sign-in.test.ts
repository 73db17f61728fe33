/**
 * Sign-in in the template (lib/constructs/sign-in.ts): on by default, nothing billed while idle
 * (Lite plan, no threat protection), email as the username, strong passwords, TOTP as the blueprint
 * says, self sign-up off unless the blueprint allows it for its email domains (a pre sign-up trigger
 * refuses other addresses), an SRP client without a secret, the pools named in the outputs; off, no
 * Cognito resource at all.
 */
import { mayUseDomain, signUpRefusal } from '../../lib/access/sign-up-policy';
import { handler } from '../../lambda/pre-sign-up';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';

describe('the default: sign-in on, self sign-up off', () => {
  const { template, nagFindings } = synthesize(configFrom(neurocaasBlueprint()));

  test('a Lite user pool with email usernames, strong passwords, optional TOTP, retained, no self sign-up', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      UserPoolName: 'ncaas-test-analysis',
      UserPoolTier: 'LITE',
      UsernameAttributes: ['email'],
      AutoVerifiedAttributes: ['email'],
      MfaConfiguration: 'OPTIONAL',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      Policies: {
        PasswordPolicy: {
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
          TemporaryPasswordValidityDays: 7,
        },
      },
    });
    const [pool] = Object.values(template.findResources('AWS::Cognito::UserPool')) as {
      DeletionPolicy: string;
      Properties: Record<string, unknown>;
    }[];
    expect(pool.DeletionPolicy).toBe('Retain');
    expect(pool.Properties.UserPoolAddOns).toBeUndefined();
    expect(pool.Properties.LambdaConfig).toBeUndefined();
  });

  test('one SRP client without a secret that hides whether an account exists', () => {
    template.resourceCountIs('AWS::Cognito::UserPoolClient', 1);
    template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      GenerateSecret: false,
      PreventUserExistenceErrors: 'ENABLED',
      ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    });
  });

  test('the outputs name the user pool, the client and the identity pool', () => {
    for (const name of ['UserPoolId', 'UserPoolClientId', 'IdentityPoolId']) template.hasOutput(name, {});
  });

  test('the output LabMemberLogin is the whole login command a lab member runs', () => {
    const output = template.findOutputs('LabMemberLogin').LabMemberLogin as {
      Value: { 'Fn::Join': [string, unknown[]] };
    };
    const parts = output.Value['Fn::Join'][1];
    expect(parts[0]).toBe('ncaas login --email YOU@LAB --analysis test-analysis --bucket ');
    expect(parts).toEqual(
      expect.arrayContaining([
        ' --user-pool ',
        ' --client-id ',
        ' --identity-pool ',
        { Ref: expect.stringMatching(/^SignInIdentities/) },
      ]),
    );
  });

  test('has no unacknowledged cdk-nag AwsSolutions finding', () => {
    expect(nagFindings).toEqual([]);
  });
});

test('MFA required when the blueprint says so', () => {
  const { template } = synthesize(configFrom(neurocaasBlueprint({ SignIn: { Mfa: 'REQUIRED' } })));
  template.hasResourceProperties('AWS::Cognito::UserPool', { MfaConfiguration: 'ON' });
});

test('sign-in off: no Cognito resource, and member roles only where IAM users are named', () => {
  const { template, nagFindings } = synthesize(
    configFrom(neurocaasBlueprint({ SignIn: { Enabled: false } })),
  );
  for (const type of ['UserPool', 'UserPoolClient', 'IdentityPool', 'UserPoolGroup']) {
    template.resourceCountIs(`AWS::Cognito::${type}`, 0);
  }
  expect(JSON.stringify(template.toJSON())).not.toContain('cognito-identity.amazonaws.com');
  expect(nagFindings).toEqual([]);
});

describe('self sign-up for the blueprint email domains', () => {
  const config = configFrom(
    neurocaasBlueprint({ SignIn: { SelfSignUp: true, AllowedEmailDomains: ['example.org', 'Lab.EDU'] } }),
  );
  const { template, nagFindings } = synthesize(config);

  test('the pool allows sign-up and refuses other domains with a pre sign-up trigger', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: false },
      LambdaConfig: { PreSignUp: {} },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { NCAAS_SIGN_UP_DOMAINS: 'example.org,lab.edu' } },
    });
    expect(nagFindings).toEqual([]);
  });

  test('without domains the blueprint is refused, naming the field', () => {
    expect(() => configFrom(neurocaasBlueprint({ SignIn: { SelfSignUp: true } }))).toThrow(
      /SignIn\.AllowedEmailDomains.*required with SelfSignUp/s,
    );
  });

  test('an address of an allowed domain or its subdomain may sign up; no other, however written', () => {
    const allowed = ['example.org', 'lab.edu'];
    for (const ok of ['ana@example.org', 'Ana@EXAMPLE.org', 'b@neuro.lab.edu']) {
      expect({ ok, allowed: mayUseDomain(ok, allowed) }).toEqual({ ok, allowed: true });
    }
    for (const bad of [
      'mallory@evil.org',
      'mallory@example.org.evil.org',
      'mallory@notexample.org',
      'example.org',
      'mallory@',
      '@example.org',
      'a@b@evil.org',
      '<script>@example.org.x',
      '',
    ]) {
      expect({ bad, allowed: mayUseDomain(bad, allowed) }).toEqual({ bad, allowed: false });
    }
  });

  test('the trigger refuses a self sign-up from another domain and lets an operator-created account through', async () => {
    process.env.NCAAS_SIGN_UP_DOMAINS = 'example.org';
    jest.resetModules();
    const trigger = (await import('../../lambda/pre-sign-up')).handler;
    const event = (triggerSource: string, email: string) =>
      ({
        triggerSource,
        request: { userAttributes: { email } },
        response: {},
      }) as unknown as Parameters<typeof handler>[0];
    await expect(trigger(event('PreSignUp_SignUp', 'mallory@evil.org'))).rejects.toThrow(
      signUpRefusal(['example.org']),
    );
    await expect(trigger(event('PreSignUp_SignUp', 'ana@example.org'))).resolves.toBeDefined();
    await expect(trigger(event('PreSignUp_AdminCreateUser', 'guest@evil.org'))).resolves.toBeDefined();
  });
});

describe('UserEmails: invitations at deploy', () => {
  const blueprint = neurocaasBlueprint();
  const affiliates = (blueprint.UXData as { Affiliates: Record<string, unknown>[] }).Affiliates;
  const { template, nagFindings } = synthesize(
    configFrom({
      ...blueprint,
      UXData: {
        Affiliates: [
          {
            ...affiliates[0],
            UserEmails: ['Ana@Lab.Example.org', 'ana@lab.example.org', 'ben@lab.example.org'],
          },
          affiliates[1],
        ],
      },
    }),
  );

  test('one invitation resource for the group that lists people, after its Cognito group exists', () => {
    const invitations = template.findResources('Custom::NcaasInvitations');
    expect(Object.keys(invitations)).toHaveLength(1);
    const [invitation] = Object.values(invitations) as {
      Properties: Record<string, unknown>;
      DependsOn?: string[];
    }[];
    // Lowercased and without repeats, as Cognito keeps addresses.
    expect(invitation?.Properties).toMatchObject({
      Group: 'lab',
      Emails: ['ana@lab.example.org', 'ben@lab.example.org'],
    });
    const groups = template.findResources('AWS::Cognito::UserPoolGroup', {
      Properties: { GroupName: 'lab' },
    });
    expect(invitation?.DependsOn).toEqual(expect.arrayContaining(Object.keys(groups)));
  });

  test('the invitation function may only create users and add them to groups, in this pool', () => {
    const policies = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([id]) =>
      id.startsWith('SignInInviteMembers'),
    );
    expect(policies).toHaveLength(1);
    expect(
      (policies[0]?.[1] as { Properties: { PolicyDocument: unknown } }).Properties.PolicyDocument,
    ).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Action: ['cognito-idp:AdminAddUserToGroup', 'cognito-idp:AdminCreateUser'],
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/^SignInUsers/), 'Arn'] },
        },
      ],
    });
  });

  test('has no unacknowledged cdk-nag AwsSolutions finding', () => {
    expect(nagFindings).toEqual([]);
  });

  test('with sign-in off, UserEmails is refused naming the field', () => {
    expect(() =>
      configFrom({
        ...blueprint,
        SignIn: { Enabled: false },
        UXData: { Affiliates: [{ ...affiliates[0], UserEmails: ['ana@lab.example.org'] }] },
      }),
    ).toThrow(/UserEmails.*SignIn.Enabled false/s);
  });

  test.each([['not-an-address'], ['<script>@x.org'.replace('@', ' @')], [`${'a'.repeat(250)}@lab.org`]])(
    'the address %p is refused naming the field',
    (address) => {
      expect(() =>
        configFrom({ ...blueprint, UXData: { Affiliates: [{ ...affiliates[0], UserEmails: [address] }] } }),
      ).toThrow(/UserEmails/);
    },
  );
});
