/**
 * `ncaas validate <blueprint>`: the blueprint schema's own check (the one synth runs), every problem
 * listed with the file, the field and what is expected. Also how other commands load a blueprint.
 */
import * as path from 'node:path';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { prepareCommand } from '../blueprint/command-template';
import { BlueprintError, loadBlueprintFile, resolveBlueprintPath } from '../blueprint/load-blueprint';
import { CliError, EXIT } from './errors';
import type { Output } from './output';

/** `blueprints/` of this repository: where a bare name (`mock`) is looked up. */
export const BLUEPRINTS_DIR = path.join(__dirname, '..', '..', 'blueprints');

/** Loads a blueprint by name or path; a bad one throws BlueprintError (every problem). */
export const loadBlueprint = (nameOrPath: string, blueprintsDir: string = BLUEPRINTS_DIR): AnalysisConfig =>
  loadBlueprintFile(resolveBlueprintPath(nameOrPath, blueprintsDir));

/** For commands that only use a blueprint (submit): a bad one is a usage error. */
export const loadBlueprintForCommand = (
  nameOrPath: string,
  blueprintsDir: string = BLUEPRINTS_DIR,
): AnalysisConfig => {
  try {
    return loadBlueprint(nameOrPath, blueprintsDir);
  } catch (error) {
    if (error instanceof BlueprintError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
};

export const runValidate = (
  nameOrPath: string,
  output: Output,
  blueprintsDir: string = BLUEPRINTS_DIR,
): number => {
  const file = resolveBlueprintPath(nameOrPath, blueprintsDir);
  let config: AnalysisConfig;
  try {
    config = loadBlueprintFile(file);
  } catch (error) {
    if (!(error instanceof BlueprintError)) throw error;
    const [first, ...rest] = error.message.split('\n');
    output.err(output.paint.red(first));
    for (const line of rest) output.err(line);
    return EXIT.failed;
  }
  const { paint } = output;
  const groups = config.groups.map((g) => g.name).join(', ');
  output.out(
    `${paint.green('valid')}: ${path.relative(process.cwd(), file) || file}: analysis ${config.name}, runtime ${config.runtime}, ${config.groups.length} group${config.groups.length === 1 ? '' : 's'} (${groups})`,
  );
  // What the worker will run: each {} a variable holding its value (lib/blueprint/command-template.ts).
  const prepared = prepareCommand(config.command);
  if (prepared.ok) output.out(`COMMAND as run: ${prepared.text}`);
  if (config.workingDirectory)
    output.out(`in WORKING_DIRECTORY ${config.workingDirectory} (when the worker has it)`);
  for (const warning of config.warnings) output.err(`${paint.yellow('warning')}: ${warning}`);
  if (config.ignoredKeys.length > 0) {
    output.err(`note: NeuroCAAS keys with no meaning here, ignored: ${config.ignoredKeys.join(', ')}`);
  }
  return reportLimits(config, output);
};

/**
 * AWS's hard limits on the stack the blueprint makes (lib/limits/), synthesized in-process without
 * Lambda bundling; on stderr, so stdout stays the schema check's. Loaded here only: the other
 * commands start without aws-cdk-lib.
 */
const reportLimits = (config: AnalysisConfig, output: Output): number => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const limits = require('../limits/blueprint-limits') as typeof import('../limits/blueprint-limits');
  let summary: ReturnType<typeof limits.summarizeBlueprintLimits>;
  try {
    summary = limits.summarizeBlueprintLimits(config);
  } catch (error) {
    output.err(
      output.paint.red(
        `limits: the stack could not be synthesized: ${error instanceof Error ? error.message : String(error)}`,
      ),
    );
    return EXIT.failed;
  }
  for (const line of summary.lines) {
    output.err(line.startsWith('limit exceeded') ? output.paint.red(line) : line);
  }
  return summary.broken ? EXIT.failed : EXIT.ok;
};
