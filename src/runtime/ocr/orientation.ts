/**
 * How the `ocr` pipeline reads a text line given the direction classifier's answer.
 *
 * PaddleOCR turns a line only when the classifier says "180" with at least 0.9 (`cls_thresh`):
 * on photographs upright lines often get weak "180" labels, and turning on any label reads
 * them upside down. Below 0.9, either way, the classifier is unsure: the line is read both as
 * it is and turned, and the more confident reading is kept, so genuinely upside-down small
 * lines (which the classifier is often unsure of) are still read. A confident "180" is read
 * both ways too, turned first: on photographed pages the classifier says "180" at 0.99 for
 * upright lines (the skimage page.png, models/README.md), and a line turned by mistake is
 * lost. Only a confident "0" is read once.
 */
export const confidentTurn = 0.9;

/** PaddleOCR's `drop_score`: a line read with less confidence than this is left out of `text`. */
export const dropScore = 0.5;

/** Which way round a line is read: first always, second where the classifier could be wrong. */
export interface LineReadings {
  first: 'as-is' | 'turned';
  second?: 'as-is' | 'turned';
}

/** The classifier's result (`null` when the optional step failed: the line goes on as it is). */
export function lineReadings(direction: unknown): LineReadings {
  const d = direction as { label?: unknown; confidence?: unknown } | null | undefined;
  if (d === null || d === undefined || typeof d.label !== 'string') return { first: 'as-is' };
  const sure = Number(d.confidence ?? 0) >= confidentTurn;
  if (d.label === '180' && sure) return { first: 'turned', second: 'as-is' };
  return sure ? { first: 'as-is' } : { first: 'as-is', second: 'turned' };
}
