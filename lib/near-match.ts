/**
 * Near misses of a name (a misspelt blueprint key, a group typed in the wrong case): a small
 * Damerau-Levenshtein distance, used by the blueprint loader and the submission checks alike.
 */

/**
 * Damerau-Levenshtein distance in its optimal-string-alignment form: the fewest insertions,
 * deletions, substitutions and swaps of two neighbouring characters that turn `a` into `b`.
 */
export const editDistance = (a: string, b: string): number => {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2][j - 2] + 1);
      }
      rows[i][j] = best;
    }
  }
  return rows[a.length][b.length];
};

/**
 * How many edits still make a misspelling of a name of `length` characters: 2 for long names, fewer
 * for short ones, where two edits turn one word into another (`Tags` and `Image` are 2 from `STAGE`,
 * `Ebs` 1 from `Efs`); a name of three letters is matched only in another case (`EFS`).
 */
const editsAllowed = (length: number): number => (length >= 8 ? 2 : length >= 4 ? 1 : 0);

/**
 * The names of `known` that `name` is probably a misspelling of, the nearest ones: within
 * `editsAllowed` of the known name's length, ignoring case. Empty when none is that near.
 */
export const nearMatches = (name: string, known: readonly string[]): string[] => {
  const scored = known
    .map((candidate) => ({
      candidate,
      distance: editDistance(name.toLowerCase(), candidate.toLowerCase()),
      limit: editsAllowed(candidate.length),
    }))
    .filter(({ distance, limit }) => distance <= limit);
  const nearest = Math.min(...scored.map((s) => s.distance));
  return scored.filter((s) => s.distance === nearest).map((s) => s.candidate);
};
