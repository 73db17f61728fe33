/**
 * Forward-only state changes as DynamoDB conditions, and a job's summary state. Ranks come from
 * ./job-state.ts; the conditions name the states of lower rank explicitly (`state IN (...)`) rather
 * than storing a derived rank number, so a stored item never disagrees with the code about order.
 */
import { FINAL_STATES, isFinal, JOB_STATES, type JobState, stateRank } from './job-state';

/** States a change to `to` may overwrite: those of strictly lower rank (equal final ranks: first wins). */
export const statesBelow = (to: JobState): readonly JobState[] =>
  JOB_STATES.filter((state) => stateRank(state) < stateRank(to));

export interface ConditionParts {
  /** Condition expression, or undefined when nothing may be overwritten (the change can never apply). */
  readonly expression: string | undefined;
  readonly names: Record<string, string>;
  readonly values: Record<string, string>;
}

/**
 * `#state IN (:below0, :below1, ...)` for a change to `to`, with its placeholders. `stateAttribute` is
 * the item's attribute holding the state; `prefix` keeps placeholders apart from the caller's others.
 */
export const forwardOnlyCondition = (
  to: JobState,
  stateAttribute = 'state',
  prefix = 'below',
): ConditionParts => {
  const below = statesBelow(to);
  if (below.length === 0) return { expression: undefined, names: {}, values: {} };
  const values: Record<string, string> = {};
  below.forEach((state, i) => {
    values[`:${prefix}${i}`] = state;
  });
  return {
    expression: `#${prefix}State IN (${Object.keys(values).join(', ')})`,
    names: { [`#${prefix}State`]: stateAttribute },
    values,
  };
};

/** Whether a change from `from` to `to` moves forward (what the conditional write enforces). */
export const movesForward = (from: JobState | undefined, to: JobState): boolean =>
  from === undefined || stateRank(from) < stateRank(to);

/** Order in which a mixed outcome names the job: the most telling failure first. */
const FAILURE_PRECEDENCE: readonly JobState[] = ['FAILED', 'TIMED_OUT', 'INTERRUPTED', 'CANCELLED'];

/**
 * The state of a job whose datasets are all final: SUCCESS when every dataset succeeded, else the
 * most telling failure among them.
 */
export const jobFinalState = (datasetStates: readonly JobState[]): JobState => {
  if (datasetStates.length === 0 || datasetStates.some((state) => !isFinal(state))) {
    throw new Error(`not every dataset is final: ${datasetStates.join(', ')}`);
  }
  if (datasetStates.every((state) => state === 'SUCCESS')) return 'SUCCESS';
  const failure = FAILURE_PRECEDENCE.find((state) => datasetStates.includes(state));
  return failure ?? FINAL_STATES[0];
};

export const isJobState = (value: unknown): value is JobState =>
  typeof value === 'string' && (JOB_STATES as readonly string[]).includes(value);
