/**
 * `ncaas users` against the Cognito API (aws-sdk-client-mock, the real request shapes): an operator
 * adds a person to groups (Cognito emails the invitation; nothing secret is printed), removes, lists
 * and resets; a mistyped group or a bad address changes nothing.
 */
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminGetUserCommand,
  AdminListGroupsForUserCommand,
  AdminRemoveUserFromGroupCommand,
  AdminResetUserPasswordCommand,
  CognitoIdentityProviderClient,
  GetGroupCommand,
  ListGroupsCommand,
  ListUsersCommand,
  ListUsersInGroupCommand,
  type UserStatusType,
} from '@aws-sdk/client-cognito-identity-provider';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { CliError } from '../../lib/cli/errors';
import { userPoolIdOf, usersAdd, usersList, usersRemove, usersReset } from '../../lib/cli/users-command';
import { captureOutput } from '../support/captured-output';

const cognito = mockClient(CognitoIdentityProviderClient);
const POOL = 'us-east-1_AbCdEf123';
const target = { client: new CognitoIdentityProviderClient({ region: 'us-east-1' }), userPoolId: POOL };
const GROUPS = ['labA', 'labB'];
const notFound = (name: string) => Object.assign(new Error(name), { name });

beforeEach(() => {
  cognito.reset();
  cognito.on(GetGroupCommand).callsFake((input: { GroupName: string }) => {
    if (!GROUPS.includes(input.GroupName)) throw notFound('ResourceNotFoundException');
    return { Group: { GroupName: input.GroupName } };
  });
  cognito.on(ListGroupsCommand).resolves({ Groups: GROUPS.map((GroupName) => ({ GroupName })) });
});

test('add: an account with a verified email, Cognito sends the invitation, then each group; nothing secret printed', async () => {
  const { output, stdout, stderr } = captureOutput();
  expect(await usersAdd(target, ' Ana@Lab.Example.org ', ['labA', 'labB'], output)).toBe(0);
  expect(cognito).toHaveReceivedCommandWith(AdminCreateUserCommand, {
    UserPoolId: POOL,
    Username: 'ana@lab.example.org',
    UserAttributes: [
      { Name: 'email', Value: 'ana@lab.example.org' },
      { Name: 'email_verified', Value: 'true' },
    ],
    DesiredDeliveryMediums: ['EMAIL'],
  });
  expect(cognito.commandCalls(AdminCreateUserCommand)[0].args[0].input).not.toHaveProperty(
    'TemporaryPassword',
  );
  expect(cognito.commandCalls(AdminAddUserToGroupCommand).map((c) => c.args[0].input)).toEqual([
    { UserPoolId: POOL, Username: 'ana@lab.example.org', GroupName: 'labA' },
    { UserPoolId: POOL, Username: 'ana@lab.example.org', GroupName: 'labB' },
  ]);
  expect(stdout()).toBe(
    'added ana@lab.example.org to labA, labB: Cognito emailed an invitation with a temporary password\n',
  );
  expect(stderr()).toBe('');
});

test('add on the local runtime says where the invitation is, not that it was emailed', async () => {
  const { output, stdout } = captureOutput();
  expect(await usersAdd({ ...target, local: true }, 'bo@lab.example.org', ['labA'], output)).toBe(0);
  expect(stdout()).toContain('the local sign-in printed an invitation with a temporary password');
  expect(stdout()).toContain('no email is sent');
  expect(stdout()).not.toContain('emailed');
});

test('add: someone who already has an account is only added to the group', async () => {
  cognito.on(AdminCreateUserCommand).rejects(notFound('UsernameExistsException'));
  const { output, stdout } = captureOutput();
  await usersAdd(target, 'ana@lab.example.org', ['labB'], output);
  expect(cognito).toHaveReceivedCommandTimes(AdminAddUserToGroupCommand, 1);
  expect(stdout()).toContain('already had an account: now also in labB');
});

test('add: a mistyped group is refused with its near match before anything changes', async () => {
  const { output } = captureOutput();
  const failure = usersAdd(target, 'ana@lab.example.org', ['labA', 'laba'], output);
  await expect(failure).rejects.toThrow(CliError);
  await expect(failure).rejects.toThrow(/"laba" \(did you mean "labA"\?\).*nothing was changed/);
  expect(cognito).toHaveReceivedCommandTimes(AdminCreateUserCommand, 0);
  expect(cognito).toHaveReceivedCommandTimes(AdminAddUserToGroupCommand, 0);
});

test.each([
  ['not an address', 'ana'],
  ['shell metacharacters', 'a;rm -rf /@x.org'],
  ['markup', '<script>alert(1)</script>@x.org'],
  ['two @', 'a@b@x.org'],
  ['huge', `${'a'.repeat(300)}@x.org`],
  ['empty', ''],
])('add: %s is refused, naming the address, with no request', async (_what, email) => {
  const { output } = captureOutput();
  await expect(usersAdd(target, email, ['labA'], output)).rejects.toThrow(/is not an email address/);
  expect(cognito.calls()).toHaveLength(0);
});

test('add: without a group is a usage error', async () => {
  const { output } = captureOutput();
  await expect(usersAdd(target, 'ana@lab.example.org', [], output)).rejects.toThrow('--group');
});

test('remove: from one group keeps the account; without --group deletes it; an unknown person is named', async () => {
  const { output, stdout } = captureOutput();
  await usersRemove(target, 'ana@lab.example.org', 'labA', output);
  expect(cognito).toHaveReceivedCommandWith(AdminRemoveUserFromGroupCommand, {
    UserPoolId: POOL,
    Username: 'ana@lab.example.org',
    GroupName: 'labA',
  });
  expect(cognito).toHaveReceivedCommandTimes(AdminDeleteUserCommand, 0);
  await usersRemove(target, 'ana@lab.example.org', undefined, output);
  expect(cognito).toHaveReceivedCommandWith(AdminDeleteUserCommand, {
    UserPoolId: POOL,
    Username: 'ana@lab.example.org',
  });
  expect(stdout()).toContain('deleted the account of ana@lab.example.org');
  cognito.on(AdminDeleteUserCommand).rejects(notFound('UserNotFoundException'));
  await expect(usersRemove(target, 'bob@lab.example.org', undefined, output)).rejects.toThrow(
    'bob@lab.example.org has no account',
  );
});

test('list: every page, each person with status and groups; a person in no group is said to have no access', async () => {
  const user = (email: string, status: UserStatusType) => ({
    Username: `sub-${email}`,
    UserStatus: status,
    Enabled: true,
    Attributes: [{ Name: 'email', Value: email }],
  });
  cognito
    .on(ListUsersCommand, { UserPoolId: POOL, PaginationToken: undefined })
    .resolves({ Users: [user('zoe@x.org', 'CONFIRMED')], PaginationToken: 'p2' })
    .on(ListUsersCommand, { UserPoolId: POOL, PaginationToken: 'p2' })
    .resolves({ Users: [user('ana@x.org', 'FORCE_CHANGE_PASSWORD')] });
  cognito
    .on(AdminListGroupsForUserCommand, { Username: 'sub-ana@x.org' })
    .resolves({ Groups: [{ GroupName: 'labA' }, { GroupName: 'labB' }] })
    .on(AdminListGroupsForUserCommand, { Username: 'sub-zoe@x.org' })
    .resolves({ Groups: [] });
  const { output, stdout } = captureOutput();
  await usersList(target, undefined, output);
  expect(stdout().split('\n')).toEqual([
    'EMAIL      STATUS                 GROUPS',
    'ana@x.org  FORCE_CHANGE_PASSWORD  labA,labB',
    'zoe@x.org  CONFIRMED              (no group: no access)',
    '',
  ]);
  cognito.on(ListUsersInGroupCommand).resolves({ Users: [] });
  const one = captureOutput();
  await usersList(target, 'labB', one.output);
  expect(cognito).toHaveReceivedCommandWith(ListUsersInGroupCommand, { UserPoolId: POOL, GroupName: 'labB' });
  expect(one.stdout()).toBe('no one is in labB\n');
});

test('reset: never signed in gets the invitation again; otherwise Cognito emails a reset code', async () => {
  const { output, stdout } = captureOutput();
  cognito
    .on(AdminGetUserCommand)
    .resolvesOnce({ UserStatus: 'FORCE_CHANGE_PASSWORD' })
    .resolves({ UserStatus: 'CONFIRMED' });
  await usersReset(target, 'ana@x.org', output);
  expect(cognito).toHaveReceivedCommandWith(AdminCreateUserCommand, {
    UserPoolId: POOL,
    Username: 'ana@x.org',
    MessageAction: 'RESEND',
    DesiredDeliveryMediums: ['EMAIL'],
  });
  await usersReset(target, 'ana@x.org', output);
  expect(cognito).toHaveReceivedCommandWith(AdminResetUserPasswordCommand, {
    UserPoolId: POOL,
    Username: 'ana@x.org',
  });
  expect(stdout()).toBe(
    'sent ana@x.org a new invitation with a new temporary password\nana@x.org must choose a new password: Cognito emailed a reset code\n',
  );
});

test('the user pool comes from --user-pool or NCAAS_USER_POOL_ID, and must look like one', () => {
  expect(userPoolIdOf(undefined, { NCAAS_USER_POOL_ID: POOL })).toBe(POOL);
  expect(userPoolIdOf(POOL, {})).toBe(POOL);
  expect(() => userPoolIdOf(undefined, {})).toThrow('NCAAS_USER_POOL_ID');
  expect(() => userPoolIdOf('us-east-1_x; rm -rf /', {})).toThrow('is not a user pool id');
});
