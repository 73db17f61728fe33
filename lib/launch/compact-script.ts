/**
 * The worker script without its comment lines, blank lines and indentation, for EC2 user data
 * (16 KB limit, compressed). Only whole-line comments go: here-document bodies (the shims' own
 * `#!/bin/sh`) and multi-line single-quoted strings (the awk programs) are kept as they are. With
 * `dropBatchOnly`, the blocks between `# batch-only: begin` and `# batch-only: end` lines go too: an
 * EC2 worker never runs a Batch stage. With `dropEc2Only`, the `# ec2-only:` blocks go (the Spot
 * notice watch and the EFS mount of EC2 workers): a Batch stage never runs them. Both are budgets,
 * not style: EC2 user data holds 16 KB and a Batch SubmitJob 30 KiB.
 */
const HEREDOC = /<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/;
const BATCH_ONLY = /^# batch-only: begin[^\n]*\n[\s\S]*?^# batch-only: end\n/gm;
const EC2_ONLY = /^# ec2-only: begin[^\n]*\n[\s\S]*?^# ec2-only: end\n/gm;

export const compactShellScript = (
  script: string,
  options: { dropBatchOnly?: boolean; dropEc2Only?: boolean } = {},
): string => {
  let source = options.dropBatchOnly ? script.replace(BATCH_ONLY, '') : script;
  if (options.dropEc2Only) source = source.replace(EC2_ONLY, '');
  const lines = source.split('\n');
  const kept: string[] = [];
  let heredocEnd: string | undefined;
  let inSingleQuotes = false;
  lines.forEach((line, index) => {
    if (heredocEnd !== undefined) {
      kept.push(line);
      if (line === heredocEnd) heredocEnd = undefined;
      return;
    }
    const code = !inSingleQuotes;
    if (code && index > 0 && (/^\s*#/.test(line) || line.trim() === '')) return;
    // Indentation means nothing to sh or awk, except after a backslash-newline inside quotes.
    const continued = (kept[kept.length - 1] ?? '').endsWith('\\');
    kept.push(continued ? line : line.replace(/^\s+/, ''));
    // Track single quotes that stay open across lines (outside them, '"' and '\'' pairs are balanced
    // on the lines of this script; a line inside a quoted awk program is kept verbatim).
    const quotes = (
      line
        .replace(/\\'/g, '')
        .replace(/"[^"]*"/g, '')
        .match(/'/g) ?? []
    ).length;
    if (quotes % 2 === 1) inSingleQuotes = !inSingleQuotes;
    const heredoc = code ? HEREDOC.exec(line) : null;
    if (heredoc) heredocEnd = heredoc[2];
  });
  return kept.join('\n');
};
