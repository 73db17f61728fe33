/** Loading S3 state into a page: once, again on demand, and every few seconds while `live` says so. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from './components';

export interface Loaded<T> {
  readonly value?: T;
  readonly error?: string;
  readonly loading: boolean;
  reload(): void;
}

/** How often a page that follows a running job reads the bucket again. */
export const LIVE_INTERVAL_MS = 3000;

export const useLoad = <T>(
  load: () => Promise<T>,
  deps: readonly unknown[],
  live: (value: T | undefined) => boolean = () => false,
): Loaded<T> => {
  const [state, setState] = useState<{ value?: T; error?: string; loading: boolean }>({ loading: true });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (value) => {
        if (mine === generation.current) setState({ value, loading: false });
      },
      (error: unknown) => {
        if (mine === generation.current) setState((s) => ({ ...s, error: messageOf(error), loading: false }));
      },
    );
  }, deps);
  useEffect(() => {
    run();
    return () => {
      generation.current += 1;
    };
  }, [run]);
  const following = !state.loading && live(state.value);
  useEffect(() => {
    if (!following) return undefined;
    const timer = setTimeout(run, LIVE_INTERVAL_MS);
    return () => clearTimeout(timer);
  }, [following, state.value, run]);
  return { ...state, reload: run };
};
