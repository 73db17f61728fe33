import { datasetLabel, jobResultFolder, submissionMessageKey, SUBMIT_SUFFIX } from '../lib/layout';

describe('bucket layout', () => {
  test('the result folder is the NeuroCAAS job folder under the group', () => {
    expect(jobResultFolder('lab', 'mock', '16:52:06.8')).toBe('lab/results/job__mock_16:52:06.8');
  });

  test('two datasets sharing a basename get distinct labels', () => {
    const keys = ['lab/inputs/a/x.zip', 'lab/inputs/b/x.zip', 'lab/inputs/folder/'];
    expect(keys.map((k, i) => datasetLabel(k, i, keys))).toEqual(['x.zip', 'x.zip-2', 'folder']);
  });

  test('a message beside a submission never ends in submit.json', () => {
    const key = submissionMessageKey('lab/submissions/run1submit.json');
    expect(key.endsWith(SUBMIT_SUFFIX)).toBe(false);
    expect(key.startsWith('lab/submissions/')).toBe(true);
  });
});
