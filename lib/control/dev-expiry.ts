/**
 * The watchdog's rule for analysis developers' dev instances (`ncaas dev`): one still running past
 * the expiry on its tag is stopped, never terminated (its disk may hold work not saved as an image
 * yet), and says so: the log, and a tag on the instance that `ncaas dev status` shows.
 */
import type { ControlContext } from './control-context';

export interface DevInstanceState {
  readonly instanceId: string;
  readonly owner?: string;
  /** The expiry tag as written; an instance without a readable one is left alone. */
  readonly expires?: string;
}

/** Where the dev instances are (EC2 by tag in ./aws-context.ts). */
export interface DevInstanceSource {
  /** This analysis's dev instances that are pending or running. */
  list(): Promise<DevInstanceState[]>;
  /** Stops one and records why on it. */
  stop(instanceId: string, note: string): Promise<void>;
}

/** Stops every expired dev instance; returns how many. One that cannot be stopped is logged, not fatal. */
export const stopExpiredDevInstances = async (
  ctx: ControlContext,
  source: DevInstanceSource,
): Promise<number> => {
  const now = ctx.now();
  let stopped = 0;
  for (const instance of await source.list()) {
    const expires = instance.expires !== undefined ? new Date(instance.expires) : undefined;
    if (expires === undefined || Number.isNaN(expires.getTime()) || expires.getTime() > now.getTime())
      continue;
    const note = `expired at ${expires.toISOString()}; stopped by the watchdog at ${now.toISOString()}`;
    try {
      await source.stop(instance.instanceId, note);
      stopped += 1;
      ctx.log.warn('stopped an expired dev instance', {
        instanceId: instance.instanceId,
        owner: instance.owner,
        expires: expires.toISOString(),
      });
    } catch (error) {
      ctx.log.error('could not stop an expired dev instance', {
        instanceId: instance.instanceId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return stopped;
};
