/**
 * Forward-only state changes as DynamoDB conditions, and a job's summary state. Ranks come from
 * ./job-state.ts; the conditions name the states a change may overwrite explicitly
 * (`state IN (...)`) rather than storing a derived rank number, so a stored item never disagrees with
 * the code about order.
 *
 * Two rules:
 * - A job's summary (the header's `state`) follows rank alone: `forwardOnlyCondition`.
 * - A dataset also moves forward by rank, with one exception: SUBMITTED (not admitted) is left only
 *   for QUEUED (admission) or a final state (a refusal, a cancellation). A launch or worker event
 *   (INITIALIZING, IN PROGRESS) never applies to a dataset that was not admitted, so a refused job
 *   can never be marked launched: `datasetTransitionCondition`, `mayTransition`.
 */
import { FINAL_STATES, isFinal, JOB_STATES, type JobState, stateRank, UNADMITTED_STATE } from './job-state';

/** States of strictly lower rank than `to` (equal final ranks: first wins). */
export const statesBelow = (to: JobState): readonly JobState[] =>
  JOB_STATES.filter((state) => stateRank(state) < stateRank(to));

/** States a dataset may move from to `to`: lower rank, and SUBMITTED only for QUEUED or a final state. */
export const datasetStatesBefore = (to: JobState): readonly JobState[] =>
  statesBelow(to).filter((state) => state !== UNADMITTED_STATE || to === 'QUEUED' || isFinal(to));

export interface ConditionParts {
  /** Condition expression, or undefined when nothing may be overwritten (the change can never apply). */
  readonly expression: string | undefined;
  readonly names: Record<string, string>;
  readonly values: Record<string, string>;
}

/**
 * `#{prefix}State IN (:{prefix}0, :{prefix}1, ...)` for `states`, with its placeholders.
 * `stateAttribute` is the item's attribute holding the state; `prefix` keeps placeholders apart from
 * the caller's others.
 */
const stateInCondition = (
  states: readonly JobState[],
  stateAttribute: string,
  prefix: string,
): ConditionParts => {
  if (states.length === 0) return { expression: undefined, names: {}, values: {} };
  const values: Record<string, string> = {};
  states.forEach((state, i) => {
    values[`:${prefix}${i}`] = state;
  });
  return {
    expression: `#${prefix}State IN (${Object.keys(values).join(', ')})`,
    names: { [`#${prefix}State`]: stateAttribute },
    values,
  };
};

/** The condition for moving a job's summary state to `to`: from any state of lower rank. */
export const forwardOnlyCondition = (
  to: JobState,
  stateAttribute = 'state',
  prefix = 'below',
): ConditionParts => stateInCondition(statesBelow(to), stateAttribute, prefix);

/** The condition for moving a dataset to `to`: from `datasetStatesBefore(to)`. */
export const datasetTransitionCondition = (
  to: JobState,
  stateAttribute = 'state',
  prefix = 'below',
): ConditionParts => stateInCondition(datasetStatesBefore(to), stateAttribute, prefix);

/** Whether a change from `from` to `to` moves forward by rank (what the summary's write enforces). */
export const movesForward = (from: JobState | undefined, to: JobState): boolean =>
  from === undefined || stateRank(from) < stateRank(to);

/** Whether a dataset in `from` may move to `to` (what a dataset's conditional write enforces). */
export const mayTransition = (from: JobState, to: JobState): boolean =>
  datasetStatesBefore(to).includes(from);

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
