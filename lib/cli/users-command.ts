/**
 * `ncaas users`: an operator gives people access to an analysis through its sign-in (the stack
 * output `UserPoolId`; lib/constructs/sign-in.ts). Cognito sends the invitation with a temporary
 * password, or the reset code: nothing secret is printed. Each affiliate is a Cognito group whose
 * role is that group's member role, so adding a person to a group is giving them that group's rights.
 *
 *   ncaas users add ana@lab.example.org --group labA [--group labB]
 *   ncaas users remove ana@lab.example.org [--group labA]   (without --group: the account goes)
 *   ncaas users list [--group labA]
 *   ncaas users reset ana@lab.example.org
 */
import {
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminGetUserCommand,
  AdminListGroupsForUserCommand,
  AdminRemoveUserFromGroupCommand,
  AdminResetUserPasswordCommand,
  type CognitoIdentityProviderClient,
  GetGroupCommand,
  paginateListGroups,
  paginateListUsers,
  paginateListUsersInGroup,
  type UserType,
} from '@aws-sdk/client-cognito-identity-provider';
import * as z from 'zod';
import { addMember } from '../access/user-admin';
import { nearMatches } from '../near-match';
import { CliError, EXIT } from './errors';
import type { Output } from './output';

export interface UsersTarget {
  readonly client: CognitoIdentityProviderClient;
  readonly userPoolId: string;
  /** The local runtime's sign-in, which sends no email: it prints what it would send. */
  readonly local?: boolean;
}

/** Where a message to the person went. */
const delivered = (target: UsersTarget, what: string): string =>
  target.local === true
    ? `the local sign-in printed ${what} on the runtime's output (and keeps it in <dir>/sign-in/invitations.log); no email is sent`
    : `Cognito emailed ${what}`;

/** `--user-pool`, else NCAAS_USER_POOL_ID: the stack output `UserPoolId`. */
export const userPoolIdOf = (flag: string | undefined, env: NodeJS.ProcessEnv): string => {
  const id = flag ?? env.NCAAS_USER_POOL_ID;
  if (!id) {
    throw new CliError(
      'no user pool given: pass --user-pool ID or set NCAAS_USER_POOL_ID (the stack output UserPoolId)',
      EXIT.usage,
    );
  }
  if (!/^[\w-]+_[0-9a-zA-Z]+$/.test(id)) {
    throw new CliError(
      `--user-pool ${JSON.stringify(id)} is not a user pool id like us-east-1_AbCdEf123`,
      EXIT.usage,
    );
  }
  return id;
};

const emailSchema = z.email().max(254);

/** The address as Cognito keeps it (lowercased), or a usage error naming it. */
export const parseEmail = (text: string): string => {
  const parsed = emailSchema.safeParse(text.trim());
  if (!parsed.success) {
    throw new CliError(
      `${JSON.stringify(text.slice(0, 80))} is not an email address: give the person's address`,
      EXIT.usage,
    );
  }
  return parsed.data.toLowerCase();
};

const errorName = (error: unknown): string | undefined => (error as { name?: string } | null)?.name;

/** Every group exists, checked before anything changes; a mistyped one is named with its near match. */
const checkGroups = async (target: UsersTarget, groups: readonly string[]): Promise<void> => {
  const missing: string[] = [];
  for (const group of groups) {
    try {
      await target.client.send(new GetGroupCommand({ UserPoolId: target.userPoolId, GroupName: group }));
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') missing.push(group);
      else throw error;
    }
  }
  if (missing.length === 0) return;
  const known = await listGroupNames(target);
  const hints = missing.map((group) => {
    const near = nearMatches(group, known);
    return near.length > 0
      ? `"${group}" (did you mean ${near.map((n) => `"${n}"`).join(' or ')}?)`
      : `"${group}"`;
  });
  throw new CliError(
    `not a group of this analysis: ${hints.join(', ')}; its groups: ${known.map((g) => `"${g}"`).join(', ') || 'none'} (nothing was changed)`,
    EXIT.usage,
  );
};

const listGroupNames = async (target: UsersTarget): Promise<string[]> => {
  const names: string[] = [];
  for await (const page of paginateListGroups({ client: target.client }, { UserPoolId: target.userPoolId })) {
    names.push(...(page.Groups ?? []).map((g) => g.GroupName ?? '').filter((n) => n.length > 0));
  }
  return names.sort();
};

export const usersAdd = async (
  target: UsersTarget,
  emailText: string,
  groups: readonly string[],
  output: Output,
): Promise<number> => {
  const email = parseEmail(emailText);
  if (groups.length === 0) throw new CliError('name the group: --group G (repeat for more)', EXIT.usage);
  await checkGroups(target, groups);
  const created = (await addMember(target.client, target.userPoolId, email, groups)) === 'invited';
  output.out(
    created
      ? `added ${email} to ${groups.join(', ')}: ${delivered(target, 'an invitation with a temporary password')}`
      : `${email} already had an account: now also in ${groups.join(', ')}`,
  );
  return EXIT.ok;
};

export const usersRemove = async (
  target: UsersTarget,
  emailText: string,
  group: string | undefined,
  output: Output,
): Promise<number> => {
  const email = parseEmail(emailText);
  try {
    if (group !== undefined) {
      await checkGroups(target, [group]);
      await target.client.send(
        new AdminRemoveUserFromGroupCommand({
          UserPoolId: target.userPoolId,
          Username: email,
          GroupName: group,
        }),
      );
      output.out(`removed ${email} from ${group} (the account stays; its other groups too)`);
    } else {
      await target.client.send(
        new AdminDeleteUserCommand({ UserPoolId: target.userPoolId, Username: email }),
      );
      output.out(`deleted the account of ${email}`);
    }
  } catch (error) {
    if (errorName(error) === 'UserNotFoundException') {
      throw new CliError(`${email} has no account in this analysis's sign-in`, EXIT.usage);
    }
    throw error;
  }
  return EXIT.ok;
};

const attribute = (user: UserType, name: string): string =>
  user.Attributes?.find((a) => a.Name === name)?.Value ?? user.Username ?? '';

export const usersList = async (
  target: UsersTarget,
  group: string | undefined,
  output: Output,
): Promise<number> => {
  if (group !== undefined) await checkGroups(target, [group]);
  // The SDK's paginators follow every page (each listing names its token differently).
  const pages =
    group !== undefined
      ? paginateListUsersInGroup(
          { client: target.client },
          { UserPoolId: target.userPoolId, GroupName: group },
        )
      : paginateListUsers({ client: target.client }, { UserPoolId: target.userPoolId });
  const users: UserType[] = [];
  for await (const page of pages) users.push(...(page.Users ?? []));
  const rows: [string, string, string][] = [];
  for (const user of users.sort((a, b) => attribute(a, 'email').localeCompare(attribute(b, 'email')))) {
    const groups = await target.client.send(
      new AdminListGroupsForUserCommand({ UserPoolId: target.userPoolId, Username: user.Username }),
    );
    rows.push([
      attribute(user, 'email'),
      user.Enabled === false ? `${user.UserStatus ?? ''} (disabled)` : (user.UserStatus ?? ''),
      (groups.Groups ?? []).map((g) => g.GroupName).join(',') || '(no group: no access)',
    ]);
  }
  if (rows.length === 0) {
    output.out(
      group !== undefined ? `no one is in ${group}` : 'no accounts yet: ncaas users add <email> --group G',
    );
    return EXIT.ok;
  }
  const width = (i: 0 | 1) => Math.max(...rows.map((r) => r[i].length), ['EMAIL', 'STATUS'][i].length);
  output.out(`${'EMAIL'.padEnd(width(0))}  ${'STATUS'.padEnd(width(1))}  GROUPS`);
  for (const row of rows) output.out(`${row[0].padEnd(width(0))}  ${row[1].padEnd(width(1))}  ${row[2]}`);
  return EXIT.ok;
};

export const usersReset = async (target: UsersTarget, emailText: string, output: Output): Promise<number> => {
  const email = parseEmail(emailText);
  let status: string | undefined;
  try {
    status = (
      await target.client.send(new AdminGetUserCommand({ UserPoolId: target.userPoolId, Username: email }))
    ).UserStatus;
  } catch (error) {
    if (errorName(error) === 'UserNotFoundException') {
      throw new CliError(
        `${email} has no account in this analysis's sign-in: ncaas users add it first`,
        EXIT.usage,
      );
    }
    throw error;
  }
  if (status === 'FORCE_CHANGE_PASSWORD') {
    // Never signed in: the invitation (a new temporary password) is sent again.
    await target.client.send(
      new AdminCreateUserCommand({
        UserPoolId: target.userPoolId,
        Username: email,
        MessageAction: 'RESEND',
        DesiredDeliveryMediums: ['EMAIL'],
      }),
    );
    output.out(`sent ${email} a new invitation with a new temporary password`);
  } else {
    await target.client.send(
      new AdminResetUserPasswordCommand({ UserPoolId: target.userPoolId, Username: email }),
    );
    output.out(`${email} must choose a new password: ${delivered(target, 'a reset code')}`);
  }
  return EXIT.ok;
};
