/**
 * The shape of a NeuroCAAS `submit.json` (docs/DESIGN.md "submit.json"): the single definition of which
 * keys exist and what type each holds. What the values may say (keys under the submitting group,
 * a safe timestamp, an allowed instance type) is checked after this pass, in ./parse-submission.ts.
 *
 * Not strict: keys NeuroCAAS tools or web forms add (`exitcode`, `comment`, ...) are dropped, not
 * errors. `resultpath` is the one known key that is refused: NeuroCAAS let it send results elsewhere;
 * here results always go to the job's results folder.
 */
// zod/mini: the submit handler bundles this, and the mini build is a fifth of the size. Its messages
// are not shown anyway (./schema-issues.ts words every problem).
import * as z from 'zod/mini';

export const submitSchema = z.object({
  /** One key, or a non-empty list of keys: one worker per dataset. A key ending in `/` is a folder dataset. */
  dataname: z.union([z.string(), z.array(z.string()).check(z.minLength(1))]),
  configname: z.string(),
  /** The job id. NeuroCAAS tools sometimes write it as a number; it is used as text. */
  timestamp: z.pipe(
    z.union([z.string(), z.number()]),
    z.transform((value) => String(value)),
  ),
  instance_type: z.optional(z.string()),
  /** The job this one runs again (`ncaas rerun`), as its id: named in the new job's certificate. */
  rerun_of: z.optional(z.string()),
  resultpath: z.optional(z.never()),
});

export type SubmitJson = z.output<typeof submitSchema>;

/** The keys submit.json may hold that mean something here. */
export const SUBMIT_KEYS: readonly string[] = Object.keys(submitSchema.shape);
