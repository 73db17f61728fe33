/**
 * Giving a person an account in an analysis's sign-in and its groups: one definition for the
 * operator's `ncaas users add` (lib/cli/users-command.ts) and the invitations a deploy sends for a
 * blueprint's `UserEmails` (lambda/invite-members.ts). Idempotent: a person who already has an
 * account keeps it (and their password), and is added to the groups they are not yet in.
 */
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  type CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';

export type MemberAdded = 'invited' | 'existed';

export const addMember = async (
  client: CognitoIdentityProviderClient,
  userPoolId: string,
  email: string,
  groups: readonly string[],
): Promise<MemberAdded> => {
  let added: MemberAdded = 'invited';
  try {
    await client.send(
      new AdminCreateUserCommand({
        UserPoolId: userPoolId,
        Username: email,
        UserAttributes: [
          { Name: 'email', Value: email },
          { Name: 'email_verified', Value: 'true' },
        ],
        // Cognito emails the invitation with a temporary password: nothing secret passes through here.
        DesiredDeliveryMediums: ['EMAIL'],
      }),
    );
  } catch (error) {
    if ((error as { name?: string } | null)?.name !== 'UsernameExistsException') throw error;
    added = 'existed';
  }
  for (const group of groups) {
    await client.send(
      new AdminAddUserToGroupCommand({ UserPoolId: userPoolId, Username: email, GroupName: group }),
    );
  }
  return added;
};
