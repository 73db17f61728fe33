/**
 * The job store's marks on a job besides its state (a part of ./job-store.ts, which inherits it; the
 * rules there hold here): who runs each dataset, Spot warnings, what its workers cost, the secret of
 * each attempt's final report, and the count of final datasets that decides who writes end.txt.
 */
import { randomBytes } from 'node:crypto';
import { datasetItemKey, headerItemKey, type JobKey } from './job-keys';
import { type Item, parseDataset, parseHeader, roundUsd } from './job-items';
import { JobReads } from './job-reads';
import { jobFinalState } from './job-rank';
import { isFinal } from './job-state';

interface Expression {
  readonly clause: string;
  readonly names: Record<string, string>;
  readonly values: Record<string, unknown>;
}

/** `#p0 = :p0, #p1 = :p1` for the defined fields. */
export const assignments = (fields: Item, prefix: string): Expression => {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const parts: string[] = [];
  Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .forEach(([name, value], i) => {
      names[`#${prefix}${i}`] = name;
      values[`:${prefix}${i}`] = value;
      parts.push(`#${prefix}${i} = :${prefix}${i}`);
    });
  return { clause: parts.join(', '), names, values };
};

export class JobMarks extends JobReads {
  /**
   * Records who runs a dataset (instance id, Batch job id, `local:<pid>`) for `findByLauncher`. A
   * report from an older attempt never overwrites a newer one's. Recorded whatever the state, so a
   * late instance of a cancelled dataset can still be traced and terminated.
   */
  async setLauncher(
    job: JobKey,
    datasetIndex: number,
    launcherId: string,
    attempt: number,
    /** From the launch itself: when it was asked for and the root volume it got (what the cost counts). */
    launch:
      | { readonly launchedAt: string; readonly rootVolumeGiB?: number; readonly spot?: boolean }
      | undefined = undefined,
  ): Promise<boolean> {
    if (launcherId.length === 0) throw new Error('launcherId is empty');
    const set = assignments(
      {
        launcherId,
        attempt,
        updatedAt: this.nowIso(),
        launchedAt: launch?.launchedAt,
        rootVolumeGiB: launch?.rootVolumeGiB,
        // Recorded with every launch: a relaunch on on-demand clears the Spot flag of the first.
        spot: launch === undefined ? undefined : launch.spot === true,
      },
      'l',
    );
    const outcome = await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: `SET ${set.clause}`,
      ConditionExpression: 'attribute_exists(#pk) AND #attempt <= :attempt',
      ExpressionAttributeNames: { '#pk': 'pk', '#attempt': 'attempt', ...set.names },
      ExpressionAttributeValues: { ':attempt': attempt, ...set.values },
    });
    return outcome.applied;
  }

  /**
   * Records EC2's two-minute warning that Spot reclaims this worker; only for the dataset's current
   * worker (a late warning for an earlier one changes nothing). Returns whether it was recorded.
   */
  async markSpotWarning(job: JobKey, datasetIndex: number, launcherId: string, at: string): Promise<boolean> {
    const outcome = await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'SET #warned = :at',
      ConditionExpression:
        'attribute_exists(#pk) AND #launcherId = :launcherId AND attribute_not_exists(#warned)',
      ExpressionAttributeNames: { '#pk': 'pk', '#warned': 'spotWarnedAt', '#launcherId': 'launcherId' },
      ExpressionAttributeValues: { ':at': at, ':launcherId': launcherId },
    });
    return outcome.applied;
  }

  /** Adds what a replaced worker cost to the dataset's earlier launches (unknown: the total is unknown). */
  async addPriorCost(
    job: JobKey,
    datasetIndex: number,
    cost: { readonly usd: number; readonly billedSeconds: number } | undefined,
  ): Promise<void> {
    await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: cost === undefined ? 'SET #unknown = :true' : 'ADD #usd :usd, #seconds :seconds',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames:
        cost === undefined
          ? { '#pk': 'pk', '#unknown': 'priorCostUnknown' }
          : { '#pk': 'pk', '#usd': 'priorCostUsd', '#seconds': 'priorBilledSeconds' },
      ExpressionAttributeValues:
        cost === undefined
          ? { ':true': true }
          : { ':usd': roundUsd(cost.usd), ':seconds': cost.billedSeconds },
    });
  }

  /** What the dataset's worker cost (lib/pricing/dataset-cost.ts), once it ended; unknown: not set. */
  async setActualCost(job: JobKey, datasetIndex: number, usd: number): Promise<void> {
    await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'SET #cost = :cost',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#cost': 'actualCostUsd' },
      ExpressionAttributeValues: { ':cost': roundUsd(usd) },
    });
  }

  /**
   * The secret of this launch attempt's final report: made once per attempt (a redelivered launch
   * message gets the same one, so EC2's ClientToken sees the same user data), kept in the dataset
   * item, which only the control plane reads.
   */
  async reportTokenFor(job: JobKey, datasetIndex: number, attempt: number): Promise<string> {
    const outcome = await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'SET #token = :token, #tokenAttempt = :attempt',
      ConditionExpression:
        'attribute_exists(#pk) AND (attribute_not_exists(#token) OR #tokenAttempt < :attempt)',
      ExpressionAttributeNames: {
        '#pk': 'pk',
        '#token': 'reportToken',
        '#tokenAttempt': 'reportTokenAttempt',
      },
      ExpressionAttributeValues: { ':token': randomBytes(16).toString('hex'), ':attempt': attempt },
      ReturnValues: 'ALL_NEW',
    });
    const token = outcome.applied
      ? outcome.attributes.reportToken
      : (await this.get(datasetItemKey(this.analysis, job, datasetIndex)))?.reportToken;
    if (typeof token !== 'string')
      throw new Error(`no report token for ${job.group}/${job.jobId}#${datasetIndex}`);
    return token;
  }

  /**
   * Counts a final dataset towards its job. Returns true exactly once per job: to the caller that
   * counts the last dataset (or, after a crash, the next caller to see them all counted). That caller
   * writes end.txt, then calls `markEndWritten`. Idempotent per dataset; false for a dataset not final.
   */
  async markDatasetFinished(job: JobKey, datasetIndex: number): Promise<boolean> {
    const datasetItemValue = await this.get(datasetItemKey(this.analysis, job, datasetIndex));
    if (!datasetItemValue) return false;
    const dataset = parseDataset(datasetItemValue);
    if (!isFinal(dataset.state)) return false;

    const headerKey = headerItemKey(this.analysis, job);
    const counted = await this.tryUpdate({
      Key: headerKey,
      UpdateExpression: 'SET #finalStates.#index = :state, #updatedAt = :now ADD #finished :one',
      ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#finalStates.#index)',
      ExpressionAttributeNames: {
        '#pk': 'pk',
        '#finalStates': 'finalStates',
        '#index': String(datasetIndex),
        '#finished': 'finishedDatasets',
        '#updatedAt': 'updatedAt',
      },
      ExpressionAttributeValues: { ':state': dataset.state, ':now': this.nowIso(), ':one': 1 },
      ReturnValues: 'ALL_NEW',
    });
    const headerValue = counted.applied ? counted.attributes : await this.get(headerKey);
    if (!headerValue) return false;
    const header = parseHeader(headerValue);
    if (header.endClaimed || header.finishedDatasets < header.datasetCount) return false;

    const finalState = jobFinalState(Object.values(header.finalStates));
    const claim = await this.tryUpdate({
      Key: headerKey,
      UpdateExpression: 'SET #endClaimed = :true, #state = :state, #finishedAt = :now, #updatedAt = :now',
      ConditionExpression: '#endClaimed = :false AND #finished = #count',
      ExpressionAttributeNames: {
        '#endClaimed': 'endClaimed',
        '#state': 'state',
        '#finishedAt': 'finishedAt',
        '#updatedAt': 'updatedAt',
        '#finished': 'finishedDatasets',
        '#count': 'datasetCount',
      },
      ExpressionAttributeValues: {
        ':true': true,
        ':false': false,
        ':state': finalState,
        ':now': this.nowIso(),
      },
    });
    return claim.applied;
  }

  /** end.txt is in place (the watchdog can look for jobs claimed long ago but never marked). */
  async markEndWritten(job: JobKey): Promise<void> {
    await this.tryUpdate({
      Key: headerItemKey(this.analysis, job),
      UpdateExpression: 'SET #endWritten = :true, #updatedAt = :now',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#endWritten': 'endWritten', '#updatedAt': 'updatedAt' },
      ExpressionAttributeValues: { ':true': true, ':now': this.nowIso() },
    });
  }
}
