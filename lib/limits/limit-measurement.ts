/** One AWS limit, and one value of the synthesized stack measured against it. */

/** `error`: the deploy (or the job) fails. `warning`: it fails unless the account's quota was raised. */
export type Severity = 'error' | 'warning';

export interface AwsLimit {
  readonly name: string;
  readonly maximum: number;
  readonly unit: string;
  /** What AWS documents, and where. */
  readonly fact: string;
  /** What the blueprint's author changes when the limit is exceeded. */
  readonly fix: string;
  readonly severity: Severity;
}

export interface LimitMeasurement extends AwsLimit {
  /** The template, resource or worker measured: `AnalysisStack/<logical id>`. */
  readonly where: string;
  readonly value: number;
}

export const measured = (
  limit: AwsLimit,
  where: string,
  value: number,
  fix: string = limit.fix,
): LimitMeasurement => ({ ...limit, where, value, fix });

export const isExceeded = (measurement: LimitMeasurement): boolean => measurement.value > measurement.maximum;

/** How close to its limit a value is (1: at the limit). */
export const usedShare = (measurement: LimitMeasurement): number => measurement.value / measurement.maximum;
