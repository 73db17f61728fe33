/**
 * A page loaded when first shown (its own chunk of the build), so the first load carries only the
 * frame and the page asked for: the upload, submit and sign-in code, with their SDK parts, come later.
 */
import type { FunctionComponent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { messageOf, Notice, Problems } from './components';

export const lazyPage = <P extends object>(
  load: () => Promise<FunctionComponent<P>>,
): FunctionComponent<P> => {
  let loaded: FunctionComponent<P> | undefined;
  let loading: Promise<FunctionComponent<P>> | undefined;
  const Lazy = (props: P) => {
    const [, setReady] = useState(0);
    const [problem, setProblem] = useState<string>();
    useEffect(() => {
      if (loaded !== undefined) return undefined;
      let live = true;
      loading ??= load();
      loading.then(
        (component) => {
          loaded = component;
          if (live) setReady((n) => n + 1);
        },
        (error: unknown) => {
          loading = undefined;
          if (live) setProblem(`${messageOf(error)}: reload the page to try again`);
        },
      );
      return () => {
        live = false;
      };
    }, []);
    if (loaded !== undefined) {
      const Page = loaded;
      return <Page {...props} />;
    }
    return problem !== undefined ? (
      <Problems title="This page could not be loaded" items={[problem]} />
    ) : (
      <Notice>Loading…</Notice>
    );
  };
  return Lazy;
};
