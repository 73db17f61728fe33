/**
 * A misspelt key of ours (top level, or in Lambda.LambdaConfig) is an error that names the file, the
 * path and the right spelling; NeuroCAAS's own keys and keys near none of ours stay warnings.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LEGACY_KEYS } from '../../lib/blueprint/blueprint-schema';
import { BlueprintError, loadBlueprintFile, parseBlueprint } from '../../lib/blueprint/load-blueprint';
import { editDistance, nearMatches } from '../../lib/near-match';
import { FIXTURE_BLUEPRINTS, neurocaasBlueprint, PROJECT_ROOT } from '../support/synth';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests build deliberately malformed, arbitrary JSON
type AnyJson = Record<string, any>;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-typos-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The base blueprint with `mutate` applied, written to a file of its own. */
const fileWith = (name: string, mutate: (bp: AnyJson) => void): string => {
  const bp = JSON.parse(JSON.stringify(neurocaasBlueprint())) as AnyJson;
  mutate(bp);
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(bp, null, 2));
  return file;
};

const refusal = (file: string): BlueprintError => {
  try {
    loadBlueprintFile(file);
  } catch (error) {
    if (error instanceof BlueprintError) return error;
    throw error;
  }
  throw new Error(`expected ${file} to be refused`);
};

/** Renames `from` to `to` in `obj`, keeping its value. */
const rename = (obj: AnyJson, from: string, to: string): void => {
  obj[to] = obj[from];
  delete obj[from];
};

describe('a misspelt key of ours is an error with the right spelling', () => {
  test.each([
    ['Submisions', 'Submissions', { AllowedInstanceTypes: ['m5.2xlarge'] }],
    ['Notification', 'Notifications', { Events: ['ALL'] }],
    ['Runtme', 'Runtime', 'ec2'],
    ['submissions', 'Submissions', {}],
    ['Runitme', 'Runtime', 'ec2'],
  ])('top level: %s', (typo, right, value) => {
    const file = fileWith(`top-${typo}`, (bp) => {
      bp[typo] = value;
    });
    const error = refusal(file);
    expect(error.problems[0]).toEqual({
      path: typo,
      message: `unknown key "${typo}": did you mean ${right}? (misspelt, the setting would be ignored)`,
    });
    expect(error.message).toContain(`- ${file}: ${typo}: unknown key "${typo}": did you mean ${right}?`);
  });

  test.each([
    ['INSTANCETYPE', 'INSTANCE_TYPE'],
    ['COMAND', 'COMMAND'],
    ['SSM_TIMOUT', 'SSM_TIMEOUT'],
  ])('Lambda.LambdaConfig: %s', (typo, right) => {
    const file = fileWith(`lc-${typo}`, (bp) => rename(bp.Lambda.LambdaConfig, right, typo));
    const error = refusal(file);
    expect(error.problems[0]).toEqual({
      path: `Lambda.LambdaConfig.${typo}`,
      message: `unknown key "${typo}": did you mean ${right}? (misspelt, the setting would be ignored)`,
    });
    expect(error.message).toContain(
      `- ${file}: Lambda.LambdaConfig.${typo}: unknown key "${typo}": did you mean ${right}?`,
    );
  });

  test('every misspelt key is listed, with the other problems', () => {
    const error = refusal(
      fileWith('several', (bp) => {
        rename(bp.Lambda.LambdaConfig, 'INSTANCE_TYPE', 'INSTANCETYPE');
        bp.Runtme = 'ec2';
      }),
    );
    expect(error.problems.map((p) => p.path)).toEqual([
      'Runtme',
      'Lambda.LambdaConfig.INSTANCETYPE',
      'Lambda.LambdaConfig.INSTANCE_TYPE',
    ]);
  });
});

describe('what stays a warning', () => {
  test("NeuroCAAS's own keys: accepted and named as ignored", () => {
    const legacy = Object.fromEntries(LEGACY_KEYS.LambdaConfig.map((key) => [key, 'x']));
    const result = parseBlueprint(
      neurocaasBlueprint({
        Lambda: {
          CodeUri: '../../protocols',
          LambdaConfig: {
            ...legacy,
            AMI: 'ami-0123456789abcdef0',
            INSTANCE_TYPE: 'm5.xlarge',
            COMMAND: 'run "{}" "{}" "{}" "{}"',
            REGION: 'us-east-1',
          },
        },
      }),
      'legacy.json',
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.ignoredKeys).toEqual(
      expect.arrayContaining([
        'Lambda.CodeUri',
        'Lambda.LambdaConfig.KEY_NAME',
        'Lambda.LambdaConfig.LOGDIR',
      ]),
    );
  });

  test('unknown keys near none of ours: a warning, as before', () => {
    const result = parseBlueprint(
      neurocaasBlueprint({
        Description: 'an analysis',
        Tags: { lab: 'x' },
        Image: 'not here',
        Lambda: {
          LambdaConfig: {
            AMI: 'ami-0123456789abcdef0',
            INSTANCE_TYPE: 'm5.xlarge',
            COMMAND: 'run "{}" "{}" "{}" "{}"',
            GPU_COUNT: 1,
          },
        },
      }),
      'loose.json',
    );
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.config.warnings).toEqual([
      'keys not recognised and ignored (check the spelling): Description, Tags, Image, Lambda.LambdaConfig.GPU_COUNT',
    ]);
  });

  test('every blueprint in blueprints/ and the NeuroCAAS fixtures still loads', () => {
    const files = [path.join(PROJECT_ROOT, 'blueprints'), FIXTURE_BLUEPRINTS].flatMap((folder) =>
      fs
        .readdirSync(folder)
        .filter((f) => f.endsWith('.json'))
        .map((f) => path.join(folder, f)),
    );
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const file of files) expect(() => loadBlueprintFile(file)).not.toThrow();
  });
});

describe('the distance', () => {
  test('Damerau-Levenshtein: a swap of neighbours is one edit', () => {
    expect(editDistance('Runtime', 'Runitme')).toBe(1);
    expect(editDistance('COMMAND', 'COMAND')).toBe(1);
    expect(editDistance('abc', 'abc')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('Submissions', 'Submision')).toBe(2);
  });

  test('near matches ignore case; two edits for long names, one for short, none for three letters', () => {
    expect(nearMatches('RUNTIME', ['Runtime', 'Container'])).toEqual(['Runtime']);
    expect(nearMatches('Submision', ['Submissions', 'Notifications'])).toEqual(['Submissions']);
    expect(nearMatches('Container', ['Notifications'])).toEqual([]);
    // Words that are not misspellings: two edits from a five-letter key, one from a three-letter one.
    expect(nearMatches('Tags', ['STAGE'])).toEqual([]);
    expect(nearMatches('Image', ['STAGE'])).toEqual([]);
    expect(nearMatches('State', ['STAGE'])).toEqual(['STAGE']);
    expect(nearMatches('Ebs', ['Efs'])).toEqual([]);
    expect(nearMatches('EFS', ['Efs'])).toEqual(['Efs']);
  });
});
