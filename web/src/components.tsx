/** Small pieces every page uses. Everything from data is rendered as text (JSX escapes it), never as markup. */
import type { ComponentChildren } from 'preact';
import type { JobView } from '../../lib/cli/job-status';
import type { UserVisibleState } from '../../lib/job/job-state';
import { REFUSAL_LABEL, submissionsPrefix } from '../../lib/layout';

/**
 * Why the submission was refused, if it was: the message beside it (`submit.error.txt`), or the
 * status file the control plane writes in the would-be job folder (label `submission`, whose input is
 * the submission itself, never a dataset: datasets live in inputs/).
 */
export const refusalOf = (view: JobView): string | undefined => {
  if (view.refusal !== undefined) return view.refusal;
  const [only, ...others] = view.datasets;
  return only !== undefined &&
    others.length === 0 &&
    only.label === REFUSAL_LABEL &&
    (only.input === undefined || only.input.startsWith(submissionsPrefix(view.ref.group)))
    ? (only.reason ?? only.status)
    : undefined;
};

/** How long a job whose datasets are final is followed for the control plane's end.txt. */
const SETTLE_MS = 2 * 60_000;

/**
 * Nothing more will change: the control plane has ended the job (end.txt), or refused it. A dataset's
 * last status can be a worker's before the control plane's (a cancelled worker reports FAILED as it is
 * stopped, then the job is CANCELLED), so final datasets are followed until end.txt, for a while.
 */
export const isSettled = (view: JobView, now: number = Date.now()): boolean =>
  view.ended ||
  refusalOf(view) !== undefined ||
  (view.final && now - (view.updatedAt?.getTime() ?? 0) > SETTLE_MS);

export const StateBadge = ({ state }: { state: UserVisibleState | 'REFUSED' }) => (
  <span class={`state state-${state.replace(/ /g, '_')}`}>{state}</span>
);

export const Problems = ({ title, items }: { title: string; items: readonly string[] }) =>
  items.length === 0 ? null : (
    <div class="problems" role="alert">
      <strong>{title}</strong>
      <ul>
        {items.map((item, i) => (
          <li key={i}>{item}</li>
        ))}
      </ul>
    </div>
  );

export const Notice = ({ children }: { children: ComponentChildren }) => (
  <p class="notice" role="status">
    {children}
  </p>
);

export const formatBytes = (bytes: number): string => {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
};

export const formatDate = (date: Date | undefined): string =>
  date === undefined ? '-' : date.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';

export const formatDuration = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
};

/** An error as one line for a person (SDK errors carry a name and a message). */
export const messageOf = (error: unknown): string => {
  if (error instanceof Error) {
    if (error.name === 'AccessDenied' || error.name === 'Forbidden') {
      return 'access denied: your sign-in may only use your own group\u2019s folders';
    }
    return error.message || error.name;
  }
  return String(error);
};
