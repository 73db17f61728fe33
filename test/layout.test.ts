import {
  analysisLogKey,
  datasetLabel,
  FINAL_REPORT_SUFFIX,
  jobResultFolder,
  statusKey,
  submissionMessageKey,
  SUBMIT_SUFFIX,
} from '../lib/layout';

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

  test("a Batch dataset's analysis log sits beside its status, per dataset, and triggers nothing", () => {
    const folder = jobResultFolder('lab', 'mock', '16:52:06.8');
    const keys = ['lab/inputs/a/x.zip', 'lab/inputs/b/x.zip'];
    const [first, second] = keys.map((k, i) => analysisLogKey(folder, datasetLabel(k, i, keys)));
    expect(first).toBe('lab/results/job__mock_16:52:06.8/logs/DATASET_NAME:x.zip_analysis-log.txt');
    expect(second).toBe('lab/results/job__mock_16:52:06.8/logs/DATASET_NAME:x.zip-2_analysis-log.txt');
    expect(first).not.toBe(statusKey(folder, 'x.zip'));
    expect(first.endsWith(FINAL_REPORT_SUFFIX)).toBe(false);
  });
});
