/**
 * A group's spend on this analysis in one month, as the control plane keeps it in the job table
 * (the BUDGET item: what ended datasets cost, and what running and queued ones have reserved) and
 * writes it for the group to read: `{group}/results/spend-YYYY-MM.json`, refreshed whenever one of
 * the group's jobs ends. `ncaas costs` reads these files: one small GET per group, never a scan.
 */
// zod/mini: the handlers bundle this (lib/submission/submit-schema.ts says why).
import * as z from 'zod/mini';
import type { MonthSpend } from '../job/job-counters';
import { roundUsd } from '../job/job-items';
import { resultsPrefix } from '../layout';

/** Where a group's spend of one month (its jobs' submission month, UTC) is written. */
export const spendFileKey = (group: string, month: string): string =>
  `${resultsPrefix(group)}spend-${month}.json`;

const count = () => z.int().check(z.nonnegative());

export const spendFileSchema = z.object({
  analysis: z.string(),
  group: z.string(),
  month: z.string().check(z.regex(/^\d{4}-\d{2}$/)),
  jobs: count(),
  datasets: count(),
  worker_hours: z.number().check(z.nonnegative()),
  cost_usd: z.number().check(z.nonnegative()),
  /** Datasets whose cost is unknown (not in cost_usd). */
  unknown_cost_datasets: count(),
  /** What the MAXCOST check counts: spent plus what running and queued datasets have reserved. */
  committed_usd: z.number(),
  maxcost_usd: z.nullable(z.number()),
  share_used: z.nullable(z.number()),
  updated: z.string(),
});
export type SpendFile = z.infer<typeof spendFileSchema>;

const round = (value: number, places: number): number => Math.round(value * 10 ** places) / 10 ** places;

export const spendFile = (
  where: { readonly analysis: string; readonly group: string; readonly month: string },
  spend: MonthSpend,
  /** MAXCOST when the analysis enforces it (MONITOR), else undefined. */
  maxCostUsd: number | undefined,
  now: Date,
): SpendFile => ({
  ...where,
  jobs: spend.jobs,
  datasets: spend.datasets,
  worker_hours: round(spend.billedSeconds / 3600, 3),
  cost_usd: roundUsd(spend.spentUsd),
  unknown_cost_datasets: spend.unknownCostDatasets,
  committed_usd: roundUsd(spend.committedUsd),
  maxcost_usd: maxCostUsd ?? null,
  share_used: maxCostUsd ? round(spend.committedUsd / maxCostUsd, 4) : null,
  updated: now.toISOString(),
});

/** A spend file's text; undefined when it is not one (written by something else). */
export const readSpendFile = (text: string): SpendFile | undefined => {
  try {
    const parsed = spendFileSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};
