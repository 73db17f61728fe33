/** The frame: sign-in (or the local runtime's own credentials), the group acted for, the pages. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ConsoleConfig } from '../../lib/console/console-config';
import { messageOf, Problems } from './components';
import { lazyPage } from './lazy';
import { JobsPage } from './pages/jobs';
import { hrefOf, type Route, useRoute } from './route';
import { localSession, type Session } from './session';

// The jobs page, the one a person comes back to, is in the first load; the others load when shown.
const AnalysisPage = lazyPage(async () => (await import('./pages/analysis')).AnalysisPage);
const JobPage = lazyPage(async () => (await import('./pages/job')).JobPage);
const SubmitPage = lazyPage(async () => (await import('./pages/submit')).SubmitPage);
const UploadPage = lazyPage(async () => (await import('./pages/upload')).UploadPage);
const SignInPage = lazyPage(async () => (await import('./sign-in')).SignInPage);

const PAGES: readonly { route: Route; label: string }[] = [
  { route: { page: 'jobs' }, label: 'Jobs' },
  { route: { page: 'upload' }, label: 'Upload' },
  { route: { page: 'submit' }, label: 'Submit' },
  { route: { page: 'analysis' }, label: 'Analysis' },
];

export const App = ({ config }: { config: ConsoleConfig }) => {
  const [session, setSession] = useState<Session | undefined>(() =>
    config.signIn === undefined ? localSession(config) : undefined,
  );
  const [groupProblem, setGroupProblem] = useState<string>();
  const route = useRoute();
  const heading = useRef<HTMLHeadingElement>(null);
  // A new page moves focus to its heading, so keyboard and screen-reader users start there.
  useEffect(() => heading.current?.focus(), [route.page]);

  if (session === undefined) {
    return <SignInPage config={config} onSignedIn={setSession} />;
  }
  const chooseGroup = (group: string): void => {
    setGroupProblem(undefined);
    if (session.idToken === undefined || session.email === undefined) {
      setSession(localSession(config, group));
      return;
    }
    // Signed in: each group is its own role, so its credentials are fetched again.
    const { idToken, email, groups } = session;
    import('./sign-in')
      .then((signIn) => signIn.sessionForGroup(config, idToken, email, groups, group))
      .then(setSession, (error: unknown) => setGroupProblem(`group ${group}: ${messageOf(error)}`));
  };
  return (
    <>
      <header class="top">
        <h1>
          {config.analysis.name} <span class="muted">console</span>
        </h1>
        <nav class="main" aria-label="Pages">
          <ul>
            {PAGES.map(({ route: target, label }) => (
              <li key={label}>
                <a href={hrefOf(target)} aria-current={route.page === target.page ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          {session.email !== undefined ? <span>{session.email}</span> : null}
          <label class="sr-only" for="group">
            Group
          </label>
          {session.groups.length > 1 ? (
            <select id="group" value={session.group} onChange={(e) => chooseGroup(e.currentTarget.value)}>
              {session.groups.map((g) => (
                <option key={g} value={g}>
                  {g}
                </option>
              ))}
            </select>
          ) : (
            <span id="group">group {session.group}</span>
          )}
          {config.signIn !== undefined ? (
            <button type="button" onClick={() => setSession(undefined)}>
              Sign out
            </button>
          ) : null}
        </div>
      </header>
      <main>
        {groupProblem !== undefined ? (
          <Problems title="The group was not changed" items={[groupProblem]} />
        ) : null}
        <Page route={route} config={config} session={session} heading={heading} />
      </main>
    </>
  );
};

export interface PageProps {
  readonly config: ConsoleConfig;
  readonly session: Session;
  readonly heading: preact.RefObject<HTMLHeadingElement>;
}

const Page = ({ route, ...props }: PageProps & { route: Route }) => {
  switch (route.page) {
    case 'analysis':
      return <AnalysisPage {...props} />;
    case 'upload':
      return <UploadPage {...props} />;
    case 'submit':
      return <SubmitPage {...props} {...(route.again !== undefined ? { again: route.again } : {})} />;
    case 'job':
      return <JobPage {...props} jobId={route.jobId} key={`${props.session.group}/${route.jobId}`} />;
    default:
      return <JobsPage {...props} key={props.session.group} />;
  }
};
