/**
 * A blueprint's problems, every one with its JSON path. Apart from the loader (./load-blueprint.ts),
 * which reads files, so code that only reports it (the CLI's errors, the console) loads no file system.
 */
export interface BlueprintProblem {
  /** JSON path, e.g. `UXData.Affiliates[1].AffiliateName`; empty for the whole file. */
  readonly path: string;
  readonly message: string;
}

export class BlueprintError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly BlueprintProblem[],
  ) {
    super(
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in this blueprint:\n` +
        problems.map((p) => `  - ${file}: ${p.path || '(file)'}: ${p.message}`).join('\n'),
    );
    this.name = 'BlueprintError';
  }
}
