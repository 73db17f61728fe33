/**
 * One created object to the service its key goes to (./object-routing.ts decides which): the
 * submission intake, a cancel request, or a worker's final report. The submit and reconcile handlers
 * (lambda/) and the local runtime (local/local-runtime.ts) each pass the services they serve, so a
 * handler's bundle holds only those.
 */
import type { CancelOutcome } from './cancel-request';
import type { ControlContext } from './control-context';
import type { S3ObjectEvent } from './event-parsing';
import { routeObject } from './object-routing';
import type { IntakeOutcome } from './submission-intake';

export interface ObjectServices {
  readonly submission?: (ctx: ControlContext, object: S3ObjectEvent) => Promise<IntakeOutcome>;
  readonly cancel?: (ctx: ControlContext, key: string) => Promise<CancelOutcome>;
  readonly 'final-report'?: (ctx: ControlContext, key: string) => Promise<string>;
}

export type ObjectOutcome =
  | { readonly route: 'submission'; readonly outcome: IntakeOutcome }
  | { readonly route: 'cancel'; readonly outcome: CancelOutcome }
  | { readonly route: 'final-report'; readonly outcome: string }
  /** Not an object of this analysis, or one this caller does not serve. */
  | { readonly route: undefined };

export const handleObject = async (
  ctx: ControlContext,
  object: S3ObjectEvent,
  services: ObjectServices,
): Promise<ObjectOutcome> => {
  const route = routeObject(ctx.config, object.key);
  if (route === 'submission' && services.submission) {
    return { route, outcome: await services.submission(ctx, object) };
  }
  if (route === 'cancel' && services.cancel)
    return { route, outcome: await services.cancel(ctx, object.key) };
  if (route === 'final-report' && services['final-report']) {
    return { route, outcome: await services['final-report'](ctx, object.key) };
  }
  return { route: undefined };
};
