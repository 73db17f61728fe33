/**
 * What a dataset's worker actually cost, computed by the control plane when the dataset ends
 * (docs/DESIGN.md "What a job cost"): the instance's on-demand hourly price times its billed time,
 * launch to end, per second with EC2's one-minute minimum, plus its root volume (gp3, per GiB-month,
 * prorated over the same time). A price nobody knows makes the cost unknown, with the reason: never 0.
 */
import { roundUsd } from '../job/job-items';
import type { HourlyPrice } from './price-book';

/** gp3 storage, USD per GiB-month (us-east-1; most regions charge the same or within 10%). */
export const GP3_USD_PER_GIB_MONTH = 0.08;
/** AWS prorates monthly storage over 730 hours. */
const HOURS_PER_MONTH = 730;
/** EC2 bills a Linux instance per second, at least 60 seconds each time it starts. */
export const MINIMUM_BILLED_SECONDS = 60;

export interface CostInputs {
  readonly instanceType: string;
  /** When the worker was launched (the launch request's time); absent: none was launched. */
  readonly launchedAt?: string;
  /** When the dataset ended: its worker's end (the instance powers off right after) or its termination. */
  readonly endedAt: Date;
  /** The root volume's size; absent when not known (the local runtime, Batch). */
  readonly rootVolumeGiB?: number;
  /** The price book's answer for `instanceType`. */
  readonly price: HourlyPrice | undefined;
  /** Why the cost cannot be computed whatever the price (Batch: the instance it ran on is Batch's). */
  readonly notComputable?: string;
}

/** The computation, written into the status file so a person can check it. */
export interface KnownCost {
  readonly known: true;
  readonly usd: number;
  readonly instanceType: string;
  readonly hourlyUsd: number;
  readonly priceSource: string;
  readonly launchedAt?: string;
  readonly endedAt?: string;
  readonly billedSeconds: number;
  readonly computeUsd: number;
  readonly rootVolumeGiB?: number;
  readonly volumeUsd: number;
  /** Earlier workers of the dataset (a Spot one reclaimed), included in `usd` and `billedSeconds`. */
  readonly earlierLaunchesUsd?: number;
}

export interface UnknownCost {
  readonly known: false;
  readonly reason: string;
}

export type DatasetCost = KnownCost | UnknownCost;

export const datasetCost = (inputs: CostInputs): DatasetCost => {
  const { instanceType, launchedAt, price } = inputs;
  if (launchedAt === undefined) {
    // Never launched (refused, cancelled while queued, or no launch succeeded): nothing ran, nothing billed.
    return {
      known: true,
      usd: 0,
      instanceType,
      hourlyUsd: price?.usd ?? 0,
      priceSource: price?.source ?? 'none needed',
      billedSeconds: 0,
      computeUsd: 0,
      volumeUsd: 0,
    };
  }
  if (inputs.notComputable !== undefined) return { known: false, reason: inputs.notComputable };
  if (price === undefined) {
    return {
      known: false,
      reason: `no price is known for ${instanceType} (neither the AWS Pricing API nor the price file)`,
    };
  }
  const launched = Date.parse(launchedAt);
  if (Number.isNaN(launched))
    return { known: false, reason: `the launch time "${launchedAt}" is not a time` };
  const ranSeconds = Math.max(0, Math.ceil((inputs.endedAt.getTime() - launched) / 1000));
  const billedSeconds = Math.max(MINIMUM_BILLED_SECONDS, ranSeconds);
  const computeUsd = (price.usd * billedSeconds) / 3600;
  const gib = inputs.rootVolumeGiB;
  const volumeUsd =
    gib === undefined ? 0 : (gib * GP3_USD_PER_GIB_MONTH * billedSeconds) / (HOURS_PER_MONTH * 3600);
  return {
    known: true,
    usd: roundUsd(computeUsd + volumeUsd),
    instanceType,
    hourlyUsd: price.usd,
    priceSource: price.source,
    launchedAt,
    endedAt: inputs.endedAt.toISOString(),
    billedSeconds,
    computeUsd: roundUsd(computeUsd),
    ...(gib !== undefined ? { rootVolumeGiB: gib } : {}),
    volumeUsd: roundUsd(volumeUsd),
  };
};

/**
 * The dataset's cost with what its earlier workers cost (a Spot worker reclaimed before an on-demand
 * relaunch); an earlier cost nobody knows makes the whole unknown.
 */
export const withEarlierLaunches = (
  cost: DatasetCost,
  earlier: { readonly usd?: number; readonly billedSeconds?: number; readonly unknown?: boolean },
): DatasetCost => {
  if (earlier.unknown)
    return { known: false, reason: "an earlier worker's cost (before a relaunch) is unknown" };
  if (!cost.known || earlier.usd === undefined) return cost;
  return {
    ...cost,
    usd: roundUsd(cost.usd + earlier.usd),
    billedSeconds: cost.billedSeconds + (earlier.billedSeconds ?? 0),
    earlierLaunchesUsd: roundUsd(earlier.usd),
  };
};

/** `$0.0123` (to a hundredth of a cent; whole cents from a dollar up). */
export const formatUsd = (usd: number): string => (usd >= 1 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`);

/** A job's cost from its datasets' (undefined: not recorded, a dataset that ended before costs were). */
export const jobCostText = (costs: readonly (number | undefined)[]): string => {
  const known = costs.filter((c): c is number => c !== undefined);
  const unknown = costs.length - known.length;
  const sum = formatUsd(roundUsd(known.reduce((a, b) => a + b, 0)));
  if (unknown === 0) return sum;
  return known.length === 0
    ? 'unknown'
    : `${sum} + unknown for ${unknown} dataset${unknown === 1 ? '' : 's'}`;
};

/** The members the status file gets (schema/status.schema.json): `cost_usd`, and how it was computed. */
export const costStatusFields = (cost: DatasetCost): Record<string, unknown> =>
  cost.known
    ? {
        cost_usd: cost.usd,
        cost: {
          instance_type: cost.instanceType,
          hourly_usd: cost.hourlyUsd,
          price_source: cost.priceSource,
          launched: cost.launchedAt ?? null,
          ended: cost.endedAt ?? null,
          billed_seconds: cost.billedSeconds,
          compute_usd: cost.computeUsd,
          root_volume_gib: cost.rootVolumeGiB ?? null,
          volume_usd: cost.volumeUsd,
          ...(cost.earlierLaunchesUsd !== undefined ? { earlier_launches_usd: cost.earlierLaunchesUsd } : {}),
        },
      }
    : { cost_usd: 'unknown', cost: { unknown_reason: cost.reason } };
