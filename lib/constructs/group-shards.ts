import { NestedStack, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';

/**
 * Nested stacks that hold the resources made per group (member policy and role, worker role and
 * instance profile, EFS access point, Batch job role and job definitions), so the analysis's own
 * template stays far from CloudFormation's 500 resources and 1 MB whatever the number of groups.
 *
 * A group always lands in the same shard, chosen by a hash of its name: adding or removing groups
 * never moves another group's resources (a move would replace them, and resources with fixed names,
 * like the worker instance profiles, cannot be created before the old ones are gone). With SHARDS
 * shards, 200 groups put about 6 in each (at most a dozen or so), 12 resources each at most.
 */
export const SHARDS = 32;

/** The shard of a group: stable for its name. */
export const shardOf = (group: string): number =>
  createHash('sha256').update(group).digest().readUInt32BE(0) % SHARDS;

export class GroupShards {
  private readonly shards = new Map<number, NestedStack>();
  private readonly owners = new Map<string, Construct>();

  constructor(
    private readonly stack: Stack,
    private readonly analysisName: string,
  ) {}

  /**
   * Where `owner` (a construct of the analysis stack, by its id) makes the resources of `key` (a
   * group's name, or another key that never changes for the resource, like an address's hash): a
   * construct of the same id inside the key's shard, so logical ids read as they would in the
   * analysis stack (`WorkersRolelabA...`).
   */
  scopeFor(owner: string, key: string): Construct {
    const index = shardOf(key);
    let shard = this.shards.get(index);
    if (!shard) {
      shard = new NestedStack(this.stack, `Groups${String(index).padStart(2, '0')}`, {
        description: `ncaas ${this.analysisName}: the per-group resources of shard ${index} of ${SHARDS}`,
      });
      this.shards.set(index, shard);
    }
    const ownerKey = `${index}/${owner}`;
    let scope = this.owners.get(ownerKey);
    if (!scope) {
      scope = new Construct(shard, owner);
      this.owners.set(ownerKey, scope);
    }
    return scope;
  }

  /** The nested stacks made so far. */
  get nestedStacks(): readonly NestedStack[] {
    return [...this.shards.values()];
  }
}
