/**
 * Job states, in the order a job moves through them. A job never moves backwards: every state
 * change is a conditional write on this rank, so duplicate and out-of-order events are harmless.
 */
export const JOB_STATES = [
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

/** Rank used by conditional writes: every final state ranks above every live one, and they tie. */
export const stateRank = (state: JobState): number =>
  FINAL_STATES.includes(state) ? 3 : JOB_STATES.indexOf(state);

export const isFinal = (state: JobState): boolean => FINAL_STATES.includes(state);
