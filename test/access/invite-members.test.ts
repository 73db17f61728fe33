/**
 * The deploy-time invitations (lambda/invite-members.ts) against a Cognito client mock: everyone on
 * create, only the addresses new to the list on update, nothing on delete, never a deletion or a
 * removal from a group, and a person who already has an account keeps it.
 */
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminRemoveUserFromGroupCommand,
  CognitoIdentityProviderClient,
  LimitExceededException,
  UsernameExistsException,
} from '@aws-sdk/client-cognito-identity-provider';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../lambda/invite-members';

const cognito = mockClient(CognitoIdentityProviderClient);
beforeEach(() => {
  cognito.reset();
  cognito.on(AdminCreateUserCommand).resolves({});
  cognito.on(AdminAddUserToGroupCommand).resolves({});
});

const base = {
  ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:x',
  ResponseURL: 'https://example.org',
  StackId: 'stack',
  RequestId: 'r',
  LogicalResourceId: 'Invitations',
  ResourceType: 'Custom::NcaasInvitations',
};
const props = (emails: string[]) => ({
  ServiceToken: base.ServiceToken,
  UserPoolId: 'us-east-1_Pool1',
  Group: 'labA',
  Emails: emails,
});
const created = () => cognito.commandCalls(AdminCreateUserCommand).map((c) => c.args[0].input.Username);

test('create: each address is invited (Cognito emails it) and added to the group', async () => {
  const result = await handler({
    ...base,
    RequestType: 'Create',
    ResourceProperties: props(['ana@lab.org', 'ben@lab.org']),
  } as CloudFormationCustomResourceEvent);
  expect(result).toEqual({
    PhysicalResourceId: 'ncaas-invitations-labA',
    Data: { Invited: 2, NotInvited: 0 },
  });
  expect(created()).toEqual(['ana@lab.org', 'ben@lab.org']);
  expect(cognito.commandCalls(AdminCreateUserCommand)[0]?.args[0].input).toEqual({
    UserPoolId: 'us-east-1_Pool1',
    Username: 'ana@lab.org',
    UserAttributes: [
      { Name: 'email', Value: 'ana@lab.org' },
      { Name: 'email_verified', Value: 'true' },
    ],
    DesiredDeliveryMediums: ['EMAIL'],
  });
  expect(cognito.commandCalls(AdminAddUserToGroupCommand).map((c) => c.args[0].input)).toEqual([
    { UserPoolId: 'us-east-1_Pool1', Username: 'ana@lab.org', GroupName: 'labA' },
    { UserPoolId: 'us-east-1_Pool1', Username: 'ben@lab.org', GroupName: 'labA' },
  ]);
});

test('an address that already has an account keeps it and joins the group', async () => {
  cognito
    .on(AdminCreateUserCommand)
    .rejects(new UsernameExistsException({ message: 'exists', $metadata: {} }));
  const result = await handler({
    ...base,
    RequestType: 'Create',
    ResourceProperties: props(['ana@lab.org']),
  } as CloudFormationCustomResourceEvent);
  expect(result.Data).toEqual({ Invited: 0, NotInvited: 0 });
  expect(cognito.commandCalls(AdminAddUserToGroupCommand)).toHaveLength(1);
});

test('update: only the new addresses; an address taken off the list is left alone', async () => {
  await handler({
    ...base,
    RequestType: 'Update',
    PhysicalResourceId: 'ncaas-invitations-labA',
    ResourceProperties: props(['ben@lab.org', 'cleo@lab.org']),
    OldResourceProperties: props(['ana@lab.org', 'ben@lab.org']),
  } as CloudFormationCustomResourceEvent);
  expect(created()).toEqual(['cleo@lab.org']);
  expect(cognito.commandCalls(AdminDeleteUserCommand)).toHaveLength(0);
  expect(cognito.commandCalls(AdminRemoveUserFromGroupCommand)).toHaveLength(0);
});

test('delete (the group or the stack goes): no account is touched', async () => {
  const result = await handler({
    ...base,
    RequestType: 'Delete',
    PhysicalResourceId: 'ncaas-invitations-labA',
    ResourceProperties: props(['ana@lab.org']),
  } as CloudFormationCustomResourceEvent);
  expect(result.PhysicalResourceId).toBe('ncaas-invitations-labA');
  expect(cognito.calls()).toHaveLength(0);
});

test("past Cognito's daily email quota the deploy goes on; the rest are logged, not invited", async () => {
  cognito
    .on(AdminCreateUserCommand)
    .resolvesOnce({})
    .rejects(new LimitExceededException({ message: 'Exceeded daily email limit', $metadata: {} }));
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  try {
    const result = await handler({
      ...base,
      RequestType: 'Create',
      ResourceProperties: props(['ana@lab.org', 'ben@lab.org', 'cleo@lab.org']),
    } as CloudFormationCustomResourceEvent);
    expect(result.Data).toEqual({ Invited: 1, NotInvited: 2 });
    // One refused call, not one per remaining address.
    expect(cognito.commandCalls(AdminCreateUserCommand)).toHaveLength(2);
    expect(JSON.parse(String(warn.mock.calls[0]?.[0])).notInvited).toEqual(['ben@lab.org', 'cleo@lab.org']);
  } finally {
    warn.mockRestore();
  }
});

test('malformed properties fail the deploy naming the field', async () => {
  await expect(
    handler({
      ...base,
      RequestType: 'Create',
      ResourceProperties: { ServiceToken: 'x', Group: 'labA', Emails: 'a' },
    } as unknown as CloudFormationCustomResourceEvent),
  ).rejects.toThrow(/UserPoolId.*Emails/);
  expect(cognito.calls()).toHaveLength(0);
});
