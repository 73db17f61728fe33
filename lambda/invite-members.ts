/**
 * Custom resource (lib/constructs/sign-in.ts `invite`): at deploy, invites a group's `UserEmails` to
 * the analysis's sign-in and puts them in the group. Only people new to the list are invited on an
 * update; a deploy never deletes an account or takes anyone out of a group (the operator does, with
 * `ncaas users remove`), so removing an address from the blueprint changes nothing for that person.
 */
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { z } from 'zod';
import { addMember } from '../lib/access/user-admin';

const properties = z.object({
  UserPoolId: z.string().min(1),
  Group: z.string().min(1),
  Emails: z.array(z.string().min(3)).default([]),
});

const client = new CognitoIdentityProviderClient({});

export const handler = async (
  event: CloudFormationCustomResourceEvent,
): Promise<{ PhysicalResourceId: string; Data?: Record<string, number> }> => {
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
  const parsed = properties.safeParse(event.ResourceProperties);
  if (!parsed.success) {
    throw new Error(
      `invitations: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const { UserPoolId, Group, Emails } = parsed.data;
  const before =
    event.RequestType === 'Update' ? properties.safeParse(event.OldResourceProperties).data : undefined;
  const already = new Set(before?.UserPoolId === UserPoolId && before.Group === Group ? before.Emails : []);
  let invited = 0;
  const waiting: string[] = [];
  for (const email of Emails.filter((e) => !already.has(e))) {
    // Cognito's own email sender sends about 50 a day: past that, the deploy goes on, and the
    // addresses not invited are logged for `ncaas users add` (README "Giving people access").
    if (waiting.length > 0) {
      waiting.push(email);
      continue;
    }
    try {
      if ((await addMember(client, UserPoolId, email, [Group])) === 'invited') invited += 1;
    } catch (error) {
      if ((error as { name?: string } | null)?.name !== 'LimitExceededException') throw error;
      waiting.push(email);
    }
  }
  if (waiting.length > 0) {
    console.warn(
      JSON.stringify({
        message: `Cognito's email quota was reached: ${waiting.length} address(es) of group ${Group} not invited; invite them later with ncaas users add`,
        group: Group,
        notInvited: waiting,
      }),
    );
  }
  return {
    PhysicalResourceId: `ncaas-invitations-${Group}`,
    Data: { Invited: invited, NotInvited: waiting.length },
  };
};
