import { renderProblems } from '../../lib/submission/problems-text';

describe('the refusal text written to the user', () => {
  test('header, one bullet per problem, what to do', () => {
    const text = renderProblems('lab/submissions/run1submit.json', [
      { field: 'dataname', message: 'dataname "lab2/inputs/x" is in group "lab2"' },
      { field: 'timestamp', message: 'timestamp is empty' },
    ]);
    expect(text).toBe(
      [
        'Your submission lab/submissions/run1submit.json was not accepted.',
        '',
        '- dataname "lab2/inputs/x" is in group "lab2"',
        '- timestamp is empty',
        '',
        'Nothing was launched. Fix the problems above and upload a corrected submit.json to lab/submissions/.',
        '',
      ].join('\n'),
    );
  });

  test('one problem reads in the singular', () => {
    expect(renderProblems('lab/submissions/a', [{ field: 'x', message: 'm' }])).toContain(
      'Fix the problem above',
    );
  });

  test('control characters from a key cannot add lines', () => {
    const text = renderProblems('lab/submissions/a\nFAKE LINE', [{ field: 'x', message: 'bad\r\nFAKE' }]);
    expect(text.split('\n')).toHaveLength(6);
    expect(text).toContain('a\\u000AFAKE LINE');
    expect(text).toContain('bad\\u000D\\u000AFAKE');
  });
});
