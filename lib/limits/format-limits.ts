/** The limits check's findings as lines for people (bin/app.ts, `ncaas validate`, bench/synth-groups.ts). */
import type { LimitsReport } from './check-assembly-limits';
import { exceededLimits } from './check-assembly-limits';
import { type LimitMeasurement, usedShare } from './limit-measurement';

/**
 * `limit exceeded: <limit> in <where>: <value> > <max> <unit> (<fix>)`; a limit the account can
 * raise (severity warning) says `limit warning:` instead.
 */
export const formatExceeded = (m: LimitMeasurement): string =>
  `limit ${m.severity === 'error' ? 'exceeded' : 'warning'}: ${m.name} in ${m.where}: ${m.value} > ${m.maximum} ${m.unit} (${m.fix})`;

/** One line per exceeded limit, errors first. */
export const formatExceededLimits = (report: LimitsReport): string[] =>
  exceededLimits(report)
    .sort((a, b) => Number(a.severity === 'warning') - Number(b.severity === 'warning'))
    .map(formatExceeded);

/** `<limit> <value> of <max> <unit> (<share>%) in <where>`. */
export const formatMeasurement = (m: LimitMeasurement): string =>
  `${m.name} ${m.value} of ${m.maximum} ${m.unit} (${Math.round(usedShare(m) * 100)}%) in ${m.where}`;

/** For each limit, its measurement closest to the maximum, closest first. */
export const largestByLimit = (report: LimitsReport): LimitMeasurement[] => {
  const largest = new Map<string, LimitMeasurement>();
  for (const m of report.measurements) {
    const current = largest.get(m.name);
    if (!current || usedShare(m) > usedShare(current)) largest.set(m.name, m);
  }
  return [...largest.values()].sort((a, b) => usedShare(b) - usedShare(a));
};

/** The `count` measurements closest to their limits, for a one-line summary. */
export const formatLargest = (report: LimitsReport, count = 3): string =>
  largestByLimit(report).slice(0, count).map(formatMeasurement).join('; ');
