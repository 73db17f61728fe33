/**
 * Sign-in, with the CLI's own flow (lib/access/sign-in-flow.ts): its questions (a new password after
 * an invitation, an authenticator code, a reset code) become forms here. Deployed, the id token is
 * exchanged for the group's member role through the identity pool, and both are renewed while the
 * page is open (lib/access/renewing.ts); on the local runtime, whose
 * emulators have no IAM, the emulator credentials stand in once the user pool has said who it is.
 */
import { CognitoIdentityClient } from '@aws-sdk/client-cognito-identity';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { useRef, useState } from 'preact/hooks';
import { claimsOf, memberRoleArnOf } from '../../lib/access/member-credentials';
import { renewingIdToken, renewingMemberCredentials } from '../../lib/access/renewing';
import { signIn, SignInError, type SignInPrompts } from '../../lib/access/sign-in-flow';
import type { ConsoleConfig } from '../../lib/console/console-config';
import { messageOf, Problems } from './components';
import { sessionClients, type Session } from './session';

type SignInConfig = NonNullable<ConsoleConfig['signIn']>;
type Question = 'newPassword' | 'mfaCode' | 'resetCode';

const QUESTIONS: Readonly<Record<Question, { label: string; help: string; type: string }>> = {
  newPassword: {
    label: 'New password',
    help: 'Your invitation’s password was temporary: choose your own (at least 12 characters, with upper and lower case letters, a digit and a symbol).',
    type: 'password',
  },
  mfaCode: {
    label: 'Authenticator code',
    help: 'The 6-digit code your authenticator app shows.',
    type: 'text',
  },
  resetCode: {
    label: 'Reset code',
    help: 'Your password was reset: enter the code from the email you received, then choose a new password.',
    type: 'text',
  },
};

/** Credentials for a group: the member role through the identity pool, or the emulator's locally. */
const groupSession = async (
  config: ConsoleConfig,
  signInConfig: SignInConfig,
  idToken: () => Promise<string>,
  group: string,
): Promise<Pick<Session, 'target' | 'uploadClient'>> => {
  if (config.localCredentials !== undefined) {
    const local = config.localCredentials;
    return sessionClients(config, async () => local);
  }
  const roleName = signInConfig.memberRoles?.[group];
  const roleArn = roleName !== undefined ? memberRoleArnOf(claimsOf(await idToken()), roleName) : undefined;
  if (signInConfig.identityPoolId === undefined || roleArn === undefined) {
    throw new SignInError(`the sign-in gives no role for group "${group}": ask the operator to deploy again`);
  }
  const credentials = renewingMemberCredentials(
    new CognitoIdentityClient({ region: config.analysis.region }),
    {
      identityPoolId: signInConfig.identityPoolId,
      userPoolId: signInConfig.userPoolId,
      region: config.analysis.region,
      roleArn,
    },
    idToken,
  );
  // Fetched once now, so a group the person cannot act for is refused here rather than on first use.
  await credentials();
  return sessionClients(config, credentials);
};

/** A session for one of the signed-in person's groups (the group menu calls it again). */
export const sessionForGroup = async (
  config: ConsoleConfig,
  idToken: () => Promise<string>,
  email: string,
  groups: readonly string[],
  group: string,
): Promise<Session> => {
  if (config.signIn === undefined) throw new SignInError('this console has no sign-in');
  const clients = await groupSession(config, config.signIn, idToken, group);
  return { ...clients, group, groups, email, idToken };
};

export const SignInPage = ({
  config,
  onSignedIn,
}: {
  config: ConsoleConfig;
  onSignedIn: (session: Session) => void;
}) => {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string>();
  const [question, setQuestion] = useState<Question>();
  const [answer, setAnswer] = useState('');
  const [totp, setTotp] = useState<{ uri: string; secret: string }>();
  const pending = useRef<(value: string) => void>();

  const ask = (which: Question) => (): Promise<string> =>
    new Promise((resolve) => {
      setAnswer('');
      setQuestion(which);
      pending.current = resolve;
    });

  const start = async (): Promise<void> => {
    const signInConfig = config.signIn;
    if (signInConfig === undefined) return;
    setBusy(true);
    setProblem(undefined);
    const prompts: SignInPrompts = {
      password: async () => password,
      newPassword: ask('newPassword'),
      mfaCode: ask('mfaCode'),
      resetCode: ask('resetCode'),
      showTotpSetup: (uri, secret) => setTotp({ uri, secret }),
    };
    const local = signInConfig.endpoint !== undefined;
    const userPoolClient = (): CognitoIdentityProviderClient =>
      new CognitoIdentityProviderClient({
        region: config.analysis.region,
        ...(local && config.localCredentials !== undefined
          ? { endpoint: signInConfig.endpoint, credentials: config.localCredentials }
          : {}),
      });
    const client = userPoolClient();
    try {
      const tokens = await signIn(
        client,
        {
          userPoolId: signInConfig.userPoolId,
          clientId: signInConfig.clientId,
          email: email.trim(),
          flow: local ? 'password' : 'srp',
        },
        prompts,
      );
      const claims = claimsOf(tokens.idToken);
      const groups = claims['cognito:groups'] ?? [];
      const first = groups[0];
      if (first === undefined) {
        throw new SignInError(
          `${claims.email} is in no group of this analysis yet: ask its operator to add you to one`,
        );
      }
      const idToken = renewingIdToken({ client: userPoolClient, clientId: signInConfig.clientId }, tokens);
      onSignedIn(await sessionForGroup(config, idToken, claims.email, groups, first));
    } catch (error) {
      setProblem(messageOf(error));
    } finally {
      client.destroy();
      setBusy(false);
      setQuestion(undefined);
      setTotp(undefined);
    }
  };

  if (question !== undefined) {
    const q = QUESTIONS[question];
    return (
      <main>
        <h1>Sign in to {config.analysis.name}</h1>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const resolve = pending.current;
            pending.current = undefined;
            setQuestion(undefined);
            resolve?.(answer);
          }}
        >
          {totp !== undefined ? (
            <p>
              Add this secret to your authenticator app, then enter the code it shows:{' '}
              <code>{totp.secret}</code>
            </p>
          ) : null}
          <label for="answer">{q.label}</label>
          <p id="answer-help" class="muted">
            {q.help}
          </p>
          <input
            id="answer"
            type={q.type}
            aria-describedby="answer-help"
            autoComplete={question === 'newPassword' ? 'new-password' : 'one-time-code'}
            value={answer}
            onInput={(e) => setAnswer(e.currentTarget.value)}
            required
          />
          <p>
            <button type="submit" class="primary">
              Continue
            </button>
          </p>
        </form>
      </main>
    );
  }
  return (
    <main>
      <h1>Sign in to {config.analysis.name}</h1>
      <p>Sign in with the email address your invitation was sent to.</p>
      {problem !== undefined ? <Problems title="Not signed in" items={[problem]} /> : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <label for="email">Email</label>
        <input
          id="email"
          type="email"
          autoComplete="username"
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          required
        />
        <label for="password">Password</label>
        <input
          id="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          required
        />
        <p>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </p>
      </form>
    </main>
  );
};
