/**
 * One reason a submission (or its config) was refused, written for the lab member who uploaded it.
 * `field` is for programs and tests (`dataname[2]`, `timestamp`, `group`, `submit.json`, `__duration__`);
 * `message` is complete on its own: which field, what is wrong, what to do.
 */
export interface SubmissionProblem {
  readonly field: string;
  readonly message: string;
}

/** Largest submit.json or config file read (bytes). Both only name keys and a few settings. */
export const MAX_TEXT_FILE_BYTES = 1024 * 1024;

/** S3's limit on the length of a key (bytes of UTF-8). */
export const MAX_KEY_BYTES = 1024;
