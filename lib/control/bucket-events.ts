/**
 * One created object to the service its key goes to (./object-routing.ts decides which): the
 * submission intake, a cancel request, or a worker's final report. The submit and reconcile handlers
 * (lambda/) and the local runtime (local/local-runtime.ts) each take the routes they serve.
 */
import { processCancel, type CancelOutcome } from './cancel-request';
import type { ControlContext } from './control-context';
import type { S3ObjectEvent } from './event-parsing';
import { routeObject, type ObjectRoute } from './object-routing';
import { onFinalReport } from './reconcile';
import { processSubmission, type IntakeOutcome } from './submission-intake';

export type ObjectOutcome =
  | { readonly route: 'submission'; readonly outcome: IntakeOutcome }
  | { readonly route: 'cancel'; readonly outcome: CancelOutcome }
  | { readonly route: 'final-report'; readonly outcome: string }
  /** Not an object of this analysis, or one this caller does not serve. */
  | { readonly route: undefined };

export const handleObject = async (
  ctx: ControlContext,
  object: S3ObjectEvent,
  serves: readonly ObjectRoute[],
): Promise<ObjectOutcome> => {
  const route = routeObject(ctx.config, object.key);
  if (route === undefined || !serves.includes(route)) return { route: undefined };
  switch (route) {
    case 'submission':
      return { route, outcome: await processSubmission(ctx, object) };
    case 'cancel':
      return { route, outcome: await processCancel(ctx, object.key) };
    case 'final-report':
      return { route, outcome: await onFinalReport(ctx, object.key) };
  }
};
