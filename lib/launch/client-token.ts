/**
 * The `ClientToken` of a worker's RunInstances call (docs/DESIGN.md "Launchers"): at most 64 ASCII
 * characters, deterministic, one per launch *attempt of one dataset in one subnet*.
 *
 * What idempotency buys here: the launch Lambda can be retried (timeout, crash after RunInstances
 * returned, an SQS redelivery). The same attempt sent again to the same subnet carries the same
 * token, so EC2 returns the instance it already started instead of starting a second one.
 *
 * Why the subnet is part of it: when SubnetId is given EC2 scopes client tokens to that subnet's
 * Availability Zone, and reusing a token with other parameters fails with
 * IdempotentParameterMismatch. A token shared across subnets would therefore not protect anything
 * across zones, and would be refused when two subnets share a zone. The subnet *id* (rather than its
 * position in the list) is hashed so that reordering the subnets between two tries still maps the
 * same subnet to the same token.
 *
 * What it cannot cover: a first try that succeeded in subnet B after subnet A had no capacity, lost
 * before the instance id was recorded, then retried when A has capacity again, starts a second
 * instance in A. Both carry the same job tags; the one that is not the row's launcher id is an
 * orphan for the watchdog to terminate.
 *
 * Everything else in the request must be a function of these fields (instance type, AMI, user data
 * including the job's deadline), or a retry of the same attempt fails with IdempotentParameterMismatch.
 */
import { createHash } from 'node:crypto';

export interface ClientTokenFields {
  readonly analysis: string;
  readonly group: string;
  readonly jobId: string;
  readonly datasetIndex: number;
  readonly attempt: number;
  readonly subnetId: string;
  /** A Spot request: its own token, so the on-demand request that may follow it is not a mismatch. */
  readonly spot?: boolean;
}

/** EC2's limit on a client token. */
export const MAX_CLIENT_TOKEN_LENGTH = 64;

const PREFIX = 'ncaas-';

/** `ncaas-` + 58 hex characters of the SHA-256 of the fields (a JSON array: no separator ambiguity). */
export const launchClientToken = (fields: ClientTokenFields): string => {
  const material = JSON.stringify([
    fields.analysis,
    fields.group,
    fields.jobId,
    fields.datasetIndex,
    fields.attempt,
    fields.subnetId,
    // Only when set: the on-demand tokens stay what they were before Spot existed.
    ...(fields.spot ? ['spot'] : []),
  ]);
  const digest = createHash('sha256').update(material, 'utf8').digest('hex');
  return PREFIX + digest.slice(0, MAX_CLIENT_TOKEN_LENGTH - PREFIX.length);
};
