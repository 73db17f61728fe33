/** The page shown, from the address's hash (`#/jobs`, `#/job/<id>`): a static site needs no server routes. */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { readonly page: 'analysis' | 'upload' | 'jobs' }
  | { readonly page: 'submit'; readonly again?: string }
  | { readonly page: 'job'; readonly jobId: string };

export const parseRoute = (hash: string): Route => {
  const [page = '', ...rest] = hash.replace(/^#\/?/, '').split('/');
  let arg: string | undefined;
  try {
    arg = rest.length > 0 ? decodeURIComponent(rest.join('/')) : undefined;
  } catch {
    // A hand-typed address with a broken escape: the jobs page, not a blank one.
    return { page: 'jobs' };
  }
  if (page === 'analysis' || page === 'upload') return { page };
  if (page === 'submit') return arg !== undefined ? { page, again: arg } : { page };
  if (page === 'job' && arg !== undefined && arg !== '') return { page, jobId: arg };
  return { page: 'jobs' };
};

export const hrefOf = (route: Route): string => {
  if (route.page === 'job') return `#/job/${encodeURIComponent(route.jobId)}`;
  if (route.page === 'submit' && route.again !== undefined)
    return `#/submit/${encodeURIComponent(route.again)}`;
  return `#/${route.page}`;
};

export const useRoute = (): Route => {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
};
