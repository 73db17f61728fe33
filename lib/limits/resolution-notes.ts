/**
 * What the resolver could not know and assumed instead: a value of a conservative length stands in
 * (so a measurement is never skipped), and a note says where and why. Never an exception at synth.
 */

/** Length of the stand-in for a value the resolver cannot compute (longer than most ARNs). */
export const UNRESOLVED_LENGTH = 128;

/** A stand-in of UNRESOLVED_LENGTH characters that says what it replaces. */
export const unresolvedText = (what: string): string =>
  `<unresolved ${what}>`.padEnd(UNRESOLVED_LENGTH, '_').slice(0, UNRESOLVED_LENGTH);

export class ResolutionNotes {
  private readonly seen = new Set<string>();
  private readonly notes: string[] = [];

  /** Records a note once. */
  add(note: string): void {
    if (this.seen.has(note)) return;
    this.seen.add(note);
    this.notes.push(note);
  }

  get list(): readonly string[] {
    return this.notes;
  }
}
