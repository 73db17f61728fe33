import {
  uncheckedAnalysisParts,
  type AnalysisConfig,
  type GroupConfig,
} from '../../lib/blueprint/analysis-config';

const group = (name: string, userInput = true): GroupConfig => ({
  name,
  userNames: [`${name}-user`],
  userEmails: [],
  userInput,
});

/** An analysis as the blueprint loader would produce it, for submission tests. */
export const testAnalysis = (overrides: Partial<AnalysisConfig> = {}): AnalysisConfig => ({
  sourceFile: 'blueprints/mock.json',
  name: 'mock',
  region: 'us-east-1',
  stage: 'webdev',
  runtime: 'ec2',
  ec2: { ami: 'ami-0123456789abcdef0', instanceType: 'm5.xlarge' },
  command: 'run.sh {} {} {} {}',
  launchTimeoutSeconds: 300,
  workerTimeoutSeconds: 3600,
  deployLimit: 10,
  maxCostUsd: 100,
  monitor: true,
  groups: [
    group('traviscipermagroup'),
    group('origdevs'),
    group('lab'),
    group('lab2'),
    group('viewers', false),
  ],
  limits: {
    allowedInstanceTypes: ['m5.xlarge', 'p3.2xlarge'],
    maxDurationMinutes: 600,
    maxDatasetSizeGiB: 200,
    maxDatasets: 5,
  },
  ...uncheckedAnalysisParts(),
  ...overrides,
});
