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
import * as z from 'zod';

/** NeuroCAAS's `stdout`/`stderr`: a log's last lines, keyed by line number, each with its newline. */
const numberedLines = z
  .record(z.string().regex(/^\d+$/), z.string())
  .describe("A log's last lines keyed by their line number (NeuroCAAS's layout), each ending in a newline.");

const isoTime = (what: string) => z.string().describe(`${what}, ISO 8601 in UTC.`);

const statusFields = {
  status: z
    .string()
    .describe(
      "The dataset's state: SUBMITTED, QUEUED, LAUNCHING, IN PROGRESS, SUCCESS, FAILED, TIMED_OUT, INTERRUPTED or CANCELLED. An analysis may write SUCCESS or FAILED itself (its verdict).",
    ),
  reason: z
    .union([z.array(z.string()), z.string()])
    .describe(
      'Why the dataset is in this state: a list of strings (NeuroCAAS); older files hold one string.',
    ),
  input: z.string().describe("The dataset's key in the bucket."),
  instance: z.string().describe('The EC2 instance id (or the host name) the worker ran on.'),
  job_start: isoTime('When the worker started').nullable(),
  job_finish: isoTime('When the analysis ended; null while it runs').nullable(),
  cpu_usage: z
    .array(z.string())
    .describe("NeuroCAAS's cpu_usage: one percentage as text (the 1-minute load over the cores)."),
  stdout: numberedLines,
  stderr: numberedLines,
  dataset_index: z.number().int().nonnegative().nullable().describe("The dataset's place in submit.json."),
  job_id: z.string().describe('The job, as named in its results folder (job__{analysis}_{timestamp}).'),
  analysis: z.string().describe('The analysis (its blueprint name).'),
  launcher: z.string().describe('What ran the worker: ec2, batch or local.'),
  log_stream: z.string().describe("Batch: the analysis container's CloudWatch Logs stream."),
  updated: isoTime('When this file was last written'),
  deadline: isoTime('When the worker stops the analysis as TIMED_OUT'),
  duration_estimate_minutes: z
    .number()
    .nonnegative()
    .nullable()
    .describe("The config's __duration__ estimate, in minutes."),
  duration_estimate_exceeded: z.boolean().describe('Whether the analysis has run longer than its estimate.'),
  exit_code: z.number().int().nullable().describe("COMMAND's exit status; null until it exits."),
  analysis_status: z.string().describe('The status the analysis wrote itself, when it did (its verdict).'),
  provenance: z
    .looseObject({})
    .nullable()
    .describe('What ran: the job, the image, the instance type, the dataset and config with their versions.'),
  std: z
    .object({ stdout: z.string().optional(), stderr: z.string().optional() })
    .describe("The last lines of the analysis's stdout and stderr as text."),
  memory: z
    .object({ total_mb: z.number(), used_mb: z.number(), used_percent: z.number() })
    .nullable()
    .describe("The worker's memory in use when this file was written."),
  cost_usd: z
    .union([z.number().nonnegative(), z.literal('unknown')])
    .describe(
      'What the dataset\'s worker cost in USD, written by the control plane when the dataset ends; "unknown" (never 0) when it cannot be computed, with cost.unknown_reason.',
    ),
  cost: z
    .object({
      instance_type: z.string().optional(),
      hourly_usd: z.number().optional().describe('The on-demand price per hour.'),
      price_source: z.string().optional().describe('AWS Pricing API, or the price file and its date.'),
      launched: z.string().nullable().optional().describe("When the worker's launch was asked for."),
      ended: z.string().nullable().optional().describe('When the dataset ended.'),
      billed_seconds: z
        .number()
        .optional()
        .describe('Launch to end in whole seconds, at least 60 (EC2 bills per second, one minute at least).'),
      compute_usd: z.number().optional().describe('hourly_usd x billed_seconds / 3600.'),
      root_volume_gib: z.number().nullable().optional().describe('The gp3 root volume, when known.'),
      volume_usd: z.number().optional().describe('root_volume_gib x the gp3 price per GiB-month, prorated.'),
      earlier_launches_usd: z
        .number()
        .optional()
        .describe(
          'What earlier workers of the dataset cost (a Spot worker reclaimed before an on-demand relaunch, priced at the on-demand rate), included in cost_usd and billed_seconds.',
        ),
      unknown_reason: z.string().optional().describe('Why the cost is unknown.'),
    })
    .describe('How cost_usd was computed (docs/DESIGN.md "What a job cost").'),
} as const;

type StatusFields = typeof statusFields;

/** The status file, as the worker writes it; other members (an analysis's own) are allowed. */
export const statusFileSchema = z.looseObject(
  Object.fromEntries(Object.entries(statusFields).map(([k, v]) => [k, v.optional()])) as {
    [K in keyof StatusFields]: z.ZodOptional<StatusFields[K]>;
  },
);
export type StatusFile = z.infer<typeof statusFileSchema>;

/** The final report: the status file with `reason` as one string, and the secret of the launch. */
export const finalReportSchema = statusFileSchema.extend({
  reason: z.string().optional().describe('Why the dataset ended so; empty when it succeeded.'),
  report_token: z
    .string()
    .regex(/^[0-9a-f]+$/)
    .optional()
    .describe(
      'The secret of the launch that ran this dataset (hex): the control plane applies only a report that carries it.',
    ),
});
export type FinalReport = z.infer<typeof finalReportSchema>;

/** Each member kept when it has its documented type, dropped when not: one odd field hides nothing. */
const lenient = <S extends z.ZodObject>(schema: S) =>
  z.looseObject(
    Object.fromEntries(
      Object.entries(schema.shape).map(([k, v]) => [k, (v as z.ZodType).catch(undefined)]),
    ) as { [K in keyof S['shape']]: z.ZodCatch<S['shape'][K]> },
  );

const lenientStatus = lenient(statusFileSchema);
const lenientReport = lenient(finalReportSchema);

export type ReadResult<T> = { readonly readable: true; readonly file: T } | { readonly readable: false };

const readJsonObject = <T>(text: string, schema: z.ZodType<T>): ReadResult<T> => {
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
  readJsonObject(text, lenientStatus as z.ZodType<StatusFile>);

/** A final report's text, read like a status file. */
export const readFinalReport = (text: string): ReadResult<FinalReport> =>
  readJsonObject(text, lenientReport as z.ZodType<FinalReport>);

/** Every member of a status file as written (to merge into, keeping an analysis's own); {} when unreadable. */
export const statusFileMembers = (text: string | undefined): Record<string, unknown> => {
  const read = text === undefined ? undefined : readJsonObject(text, z.looseObject({}));
  return read?.readable ? read.file : {};
};

/** `reason` as one line: NeuroCAAS's list joined, or the one string older files hold. */
export const reasonText = (reason: StatusFile['reason']): string | undefined =>
  Array.isArray(reason) ? reason.filter((r) => r !== '').join('; ') || undefined : reason || undefined;
