/**
 * The two files a worker writes for each dataset, as one schema each: the status file
 * (`logs/DATASET_NAME:{label}_STATUS.txt`, NeuroCAAS's layout and types, live while the analysis runs)
 * and the final report (`…_STATUS.final.json`, the same fields with `reason` as one string, plus the
 * launch's secret). worker/run-job.sh writes them; the control plane, `ncaas status` and the console
 * read them through here. Exported as JSON Schema (./status-file-json-schema.ts writes
 * schema/status.schema.json and schema/final-report.schema.json) for analysis authors whose scripts
 * read or rewrite the file.
 *
 * Every field is optional: a NeuroCAAS analysis's own tools write fewer, and the control plane writes
 * only the first few before a worker starts. Readers take each field that has its documented type and
 * ignore one that does not, so one odd field never hides the rest.
 */
// zod/mini: every handler bundles this (lib/submission/submit-schema.ts says why).
import * as z from 'zod/mini';

/** A schema with its description (shown in the exported JSON Schema). */
const described = <S extends z.ZodMiniType>(schema: S, description: string): S =>
  schema.check(z.describe(description));

/** NeuroCAAS's `stdout`/`stderr`: a log's last lines, keyed by line number, each with its newline. */
const numberedLines = described(
  z.record(z.string().check(z.regex(/^\d+$/)), z.string()),
  "A log's last lines keyed by their line number (NeuroCAAS's layout), each ending in a newline.",
);

const isoTime = (what: string) => described(z.string(), `${what}, ISO 8601 in UTC.`);
const nonNegative = () => z.number().check(z.nonnegative());

const statusFields = {
  status: described(
    z.string(),
    "The dataset's state: SUBMITTED, QUEUED, LAUNCHING, IN PROGRESS, SUCCESS, FAILED, TIMED_OUT, INTERRUPTED or CANCELLED. An analysis may write SUCCESS or FAILED itself (its verdict).",
  ),
  reason: described(
    z.union([z.array(z.string()), z.string()]),
    'Why the dataset is in this state: a list of strings (NeuroCAAS); older files hold one string.',
  ),
  input: described(z.string(), "The dataset's key in the bucket."),
  instance: described(z.string(), 'The EC2 instance id (or the host name) the worker ran on.'),
  job_start: z.nullable(isoTime('When the worker started')),
  job_finish: z.nullable(isoTime('When the analysis ended; null while it runs')),
  cpu_usage: described(
    z.array(z.string()),
    "NeuroCAAS's cpu_usage: one percentage as text (the 1-minute load over the cores).",
  ),
  stdout: numberedLines,
  stderr: numberedLines,
  dataset_index: described(z.nullable(z.int().check(z.nonnegative())), "The dataset's place in submit.json."),
  job_id: described(z.string(), 'The job, as named in its results folder (job__{analysis}_{timestamp}).'),
  analysis: described(z.string(), 'The analysis (its blueprint name).'),
  launcher: described(z.string(), 'What ran the worker: ec2, batch or local.'),
  log_stream: described(z.string(), "Batch: the analysis container's CloudWatch Logs stream."),
  updated: isoTime('When this file was last written'),
  deadline: isoTime('When the worker stops the analysis as TIMED_OUT'),
  duration_estimate_minutes: described(
    z.nullable(nonNegative()),
    "The config's __duration__ estimate, in minutes.",
  ),
  duration_estimate_exceeded: described(
    z.boolean(),
    'Whether the analysis has run longer than its estimate.',
  ),
  exit_code: described(z.nullable(z.int()), "COMMAND's exit status; null until it exits."),
  analysis_status: described(z.string(), 'The status the analysis wrote itself, when it did (its verdict).'),
  provenance: described(
    z.nullable(z.looseObject({})),
    'What ran: the job, the image, the instance type, the dataset and config with their versions.',
  ),
  std: described(
    z.object({ stdout: z.optional(z.string()), stderr: z.optional(z.string()) }),
    "The last lines of the analysis's stdout and stderr as text.",
  ),
  memory: described(
    z.nullable(z.object({ total_mb: z.number(), used_mb: z.number(), used_percent: z.number() })),
    "The worker's memory in use when this file was written.",
  ),
  cost_usd: described(
    z.union([nonNegative(), z.literal('unknown')]),
    'What the dataset\'s worker cost in USD, written by the control plane when the dataset ends; "unknown" (never 0) when it cannot be computed, with cost.unknown_reason.',
  ),
  cost: described(
    z.object({
      instance_type: z.optional(z.string()),
      hourly_usd: z.optional(described(z.number(), 'The on-demand price per hour.')),
      price_source: z.optional(described(z.string(), 'AWS Pricing API, or the price file and its date.')),
      launched: z.optional(described(z.nullable(z.string()), "When the worker's launch was asked for.")),
      ended: z.optional(described(z.nullable(z.string()), 'When the dataset ended.')),
      billed_seconds: z.optional(
        described(
          z.number(),
          'Launch to end in whole seconds, at least 60 (EC2 bills per second, one minute at least).',
        ),
      ),
      compute_usd: z.optional(described(z.number(), 'hourly_usd x billed_seconds / 3600.')),
      root_volume_gib: z.optional(described(z.nullable(z.number()), 'The gp3 root volume, when known.')),
      volume_usd: z.optional(
        described(z.number(), 'root_volume_gib x the gp3 price per GiB-month, prorated.'),
      ),
      earlier_launches_usd: z.optional(
        described(
          z.number(),
          'What earlier workers of the dataset cost (a Spot worker reclaimed before an on-demand relaunch, priced at the on-demand rate), included in cost_usd and billed_seconds.',
        ),
      ),
      unknown_reason: z.optional(described(z.string(), 'Why the cost is unknown.')),
    }),
    'How cost_usd was computed (docs/DESIGN.md "What a job cost").',
  ),
} as const;

type StatusFields = typeof statusFields;

/** The status file, as the worker writes it; other members (an analysis's own) are allowed. */
export const statusFileSchema = z.looseObject(
  Object.fromEntries(Object.entries(statusFields).map(([k, v]) => [k, z.optional(v)])) as {
    [K in keyof StatusFields]: z.ZodMiniOptional<StatusFields[K]>;
  },
);
export type StatusFile = z.infer<typeof statusFileSchema>;

/** The final report: the status file with `reason` as one string, and the secret of the launch. */
export const finalReportSchema = z.extend(statusFileSchema, {
  reason: described(z.optional(z.string()), 'Why the dataset ended so; empty when it succeeded.'),
  report_token: described(
    z.optional(z.string().check(z.regex(/^[0-9a-f]+$/))),
    'The secret of the launch that ran this dataset (hex): the control plane applies only a report that carries it.',
  ),
});
export type FinalReport = z.infer<typeof finalReportSchema>;

/** Each member kept when it has its documented type, dropped when not: one odd field hides nothing. */
const lenient = <S extends z.ZodMiniObject>(schema: S) =>
  z.looseObject(
    Object.fromEntries(
      Object.entries(schema.shape).map(([k, v]) => [k, z.catch(v as z.ZodMiniType, undefined)]),
    ) as unknown as { [K in keyof S['shape']]: z.ZodMiniCatch<S['shape'][K]> },
  );

const lenientStatus = lenient(statusFileSchema);
const lenientReport = lenient(finalReportSchema);

export type ReadResult<T> = { readonly readable: true; readonly file: T } | { readonly readable: false };

const readJsonObject = <T>(text: string, schema: z.ZodMiniType<T>): ReadResult<T> => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { readable: false };
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? { readable: true, file: parsed.data } : { readable: false };
};

/** A status file's text: unreadable when it is not a JSON object; each field checked on its own. */
export const readStatusFile = (text: string): ReadResult<StatusFile> =>
  readJsonObject(text, lenientStatus as z.ZodMiniType<StatusFile>);

/** A final report's text, read like a status file. */
export const readFinalReport = (text: string): ReadResult<FinalReport> =>
  readJsonObject(text, lenientReport as z.ZodMiniType<FinalReport>);

/** Every member of a status file as written (to merge into, keeping an analysis's own); {} when unreadable. */
export const statusFileMembers = (text: string | undefined): Record<string, unknown> => {
  const read = text === undefined ? undefined : readJsonObject(text, z.looseObject({}));
  return read?.readable ? read.file : {};
};

/** `reason` as one line: NeuroCAAS's list joined, or the one string older files hold. */
export const reasonText = (reason: StatusFile['reason']): string | undefined =>
  Array.isArray(reason) ? reason.filter((r) => r !== '').join('; ') || undefined : reason || undefined;
