/**
 * Which handler a created object goes to. The stack's S3 notifications filter by suffix only (one
 * filter per kind of object, whatever the number of groups: a bucket holds a limited number of
 * notification configurations), so the group and folder are checked here, by the handlers and by
 * the local runtime alike.
 */
import type { AnalysisConfig } from '../blueprint/analysis-config';
import {
  CANCEL_SUFFIX,
  FINAL_REPORT_SUFFIX,
  resultsPrefix,
  SUBMIT_SUFFIX,
  submissionsPrefix,
} from '../layout';

export type ObjectRoute = 'submission' | 'cancel' | 'final-report';

/** The suffixes the stack's S3 notifications deliver, and the handler each goes to. */
export const NOTIFIED_SUFFIXES: Readonly<Record<ObjectRoute, string>> = {
  submission: SUBMIT_SUFFIX,
  cancel: CANCEL_SUFFIX,
  'final-report': FINAL_REPORT_SUFFIX,
};

/**
 * `{group}/submissions/...submit.json` and `....cancel.json` of a group that submits; a final report
 * under `{group}/results/` of any group. Anything else (a `submit.json` among inputs, a group the
 * blueprint does not have) is no event of this analysis.
 */
export const routeObject = (config: AnalysisConfig, key: string): ObjectRoute | undefined => {
  const slash = key.indexOf('/');
  if (slash <= 0) return undefined;
  const group = config.groups.find((g) => g.name === key.slice(0, slash));
  if (!group) return undefined;
  if (group.userInput && key.startsWith(submissionsPrefix(group.name))) {
    if (key.endsWith(SUBMIT_SUFFIX)) return 'submission';
    if (key.endsWith(CANCEL_SUFFIX)) return 'cancel';
  }
  if (key.startsWith(resultsPrefix(group.name)) && key.endsWith(FINAL_REPORT_SUFFIX)) return 'final-report';
  return undefined;
};
