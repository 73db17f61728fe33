/**
 * Job states, in the order a job moves through them. A job never moves backwards: every state
 * change is a conditional write on this rank, so duplicate and out-of-order events are harmless.
 *
 * SUBMITTED is internal: a recorded job whose budget and data have not been checked yet. It is not
 * in the launch queue, so nothing can launch it; it leaves only by admission (QUEUED) or a refusal
 * (a final state). Users never see it: statuses they read start at QUEUED (`userVisibleState`).
 */
export const JOB_STATES = [
  'SUBMITTED',
  'QUEUED',
  'INITIALIZING',
  'IN PROGRESS',
  'SUCCESS',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'INTERRUPTED',
] as const;

export type JobState = (typeof JOB_STATES)[number];

export const FINAL_STATES: readonly JobState[] = [
  'SUCCESS',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'INTERRUPTED',
];

export const isFinal = (state: JobState): boolean => FINAL_STATES.includes(state);

/** The states that are not final, in order (SUBMITTED first). */
export const LIVE_STATES: readonly JobState[] = JOB_STATES.filter((state) => !isFinal(state));

/** The internal state before admission. */
export const UNADMITTED_STATE = 'SUBMITTED' satisfies JobState;

/** A state a user may be shown. */
export type UserVisibleState = Exclude<JobState, typeof UNADMITTED_STATE>;

/** User-visible statuses, in order: they start at QUEUED. */
export const USER_VISIBLE_STATES: readonly UserVisibleState[] = JOB_STATES.filter(
  (state): state is UserVisibleState => state !== UNADMITTED_STATE,
);

/** What a user is shown for a state: a job not admitted yet reads as QUEUED. */
export const userVisibleState = (state: JobState): UserVisibleState =>
  state === UNADMITTED_STATE ? 'QUEUED' : state;

/**
 * Rank used by conditional writes: live states by their order, and every final state ranks above
 * every live one, and they tie (of two final states the first one wins).
 */
export const stateRank = (state: JobState): number =>
  isFinal(state) ? LIVE_STATES.length : LIVE_STATES.indexOf(state);
