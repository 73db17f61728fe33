/**
 * The text written where the user looks when a submission is refused (docs/DESIGN.md "What the user sees
 * in the bucket"): which submission, one line per problem, and what to do next. Only the problems'
 * own messages appear: never a stack trace or a parser's internals.
 */
import { groupOfKey, submissionsPrefix } from '../layout';
import { escapeControlCharacters } from './characters';
import type { SubmissionProblem } from './submission-problem';

export const renderProblems = (submissionKey: string, problems: readonly SubmissionProblem[]): string => {
  const group = groupOfKey(submissionKey);
  const destination = group !== undefined ? ` to ${escapeControlCharacters(submissionsPrefix(group))}` : '';
  const lines = [
    `Your submission ${escapeControlCharacters(submissionKey)} was not accepted.`,
    '',
    ...problems.map((problem) => `- ${escapeControlCharacters(problem.message)}`),
    '',
    `Nothing was launched. Fix the ${problems.length === 1 ? 'problem' : 'problems'} above and upload a corrected submit.json${destination}.`,
  ];
  return `${lines.join('\n')}\n`;
};
