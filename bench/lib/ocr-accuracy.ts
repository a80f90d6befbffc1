/** A line as an OCR system returned it: text, and its box (any quadrilateral, image pixels). */
export interface ReadLine {
  text: string;
  box: readonly (readonly [number, number])[] | readonly number[][];
}

/** Accuracy of OCR output against known text, summed over pages. */
export interface Accuracy {
  /** Known lines read exactly (each output line can match one known line). */
  exact: number;
  lines: number;
  /** Character edits (Levenshtein) between the known and the read page text. */
  edits: number;
  chars: number;
}

export const emptyAccuracy = (): Accuracy => ({ exact: 0, lines: 0, edits: 0, chars: 0 });

/**
 * Scores one page into `into`: exact-line matches (order-free) and the character error rate
 * of the page text, both sides' lines put in reading order (top to bottom, then left to right)
 * so a system is not charged for listing the same lines in another order.
 */
export function scorePage(expected: readonly string[], read: readonly ReadLine[], into: Accuracy): void {
  const left = [...read.map((l) => l.text)];
  for (const line of expected) {
    const at = left.indexOf(line);
    if (at >= 0) {
      into.exact++;
      left.splice(at, 1);
    }
  }
  into.lines += expected.length;
  const text = inReadingOrder(read)
    .map((l) => l.text)
    .filter((t) => t !== '')
    .join('\n');
  const truth = expected.join('\n');
  into.edits += levenshtein(truth, text);
  into.chars += truth.length;
}

export function formatAccuracy(a: Accuracy): string {
  const exact = `${a.exact}/${a.lines} lines exact (${((100 * a.exact) / Math.max(1, a.lines)).toFixed(1)}%)`;
  return `${exact}   CER ${((100 * a.edits) / Math.max(1, a.chars)).toFixed(2)}%`;
}

function inReadingOrder(lines: readonly ReadLine[]): ReadLine[] {
  const top = (l: ReadLine) => Math.min(...l.box.map((p) => Number(p[1])));
  const leftOf = (l: ReadLine) => Math.min(...l.box.map((p) => Number(p[0])));
  // Lines whose tops are within 10 px are one row, read left to right.
  return [...lines].sort((a, b) =>
    Math.abs(top(a) - top(b)) > 10 ? top(a) - top(b) : leftOf(a) - leftOf(b),
  );
}

/** Edit distance (insertions, deletions, substitutions) between two strings, by code point. */
export function levenshtein(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[y.length]!;
}

/** Word-level accuracy of OCR output against known text, summed over images. */
export interface WordAccuracy {
  /** Known words (multiset, case-insensitive) found among the read words. */
  found: number;
  words: number;
  /** Known words found in the read text with every space removed (recognition without spacing). */
  compactFound: number;
  /** Read words that match no known word (fused words, misreads, fragments). */
  stray: number;
}

export const emptyWordAccuracy = (): WordAccuracy => ({ found: 0, words: 0, compactFound: 0, stray: 0 });

const wordsOf = (text: string) =>
  text
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w !== '');

/**
 * Scores one image into `into`. Word recall: each known word matches at most one read word
 * (multiset, case-insensitive). Compact recall: each known word, longest first, matches an
 * occurrence of itself in the read text with spaces removed (each occurrence once), so fused
 * words ("FIREEXIT") still count there but not in word recall. Stray: read words left over.
 */
export function scoreWords(
  expected: readonly string[],
  read: readonly { text: string }[],
  into: WordAccuracy,
): void {
  const known = expected.flatMap(wordsOf);
  const got = read.flatMap((l) => wordsOf(l.text));
  const left = new Map<string, number>();
  for (const w of got) left.set(w, (left.get(w) ?? 0) + 1);
  for (const w of known) {
    const n = left.get(w) ?? 0;
    if (n > 0) {
      into.found++;
      left.set(w, n - 1);
    }
  }
  for (const n of left.values()) into.stray += n;
  into.words += known.length;
  let compact = read.map((l) => l.text.toLowerCase().replace(/\s+/g, '')).join('\n');
  for (const w of [...known].sort((a, b) => b.length - a.length)) {
    const at = compact.indexOf(w);
    if (at >= 0) {
      into.compactFound++;
      compact = `${compact.slice(0, at)}\n${compact.slice(at + w.length)}`;
    }
  }
}

export function formatWordAccuracy(a: WordAccuracy): string {
  const ratio = (n: number) => (n / Math.max(1, a.words)).toFixed(3);
  return `word recall ${ratio(a.found)}  compact ${ratio(a.compactFound)}  stray ${String(a.stray).padStart(3)}  (${a.found}/${a.words} words)`;
}
