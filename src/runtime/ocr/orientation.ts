/**
 * How the `ocr` pipeline treats a text line given the direction classifier's answer.
 *
 * PaddleOCR turns a line only when the classifier says "180" with at least 0.9 (`cls_thresh`):
 * on photographs upright lines often get weak "180" labels, and turning on any label reads
 * them upside down. Below 0.9, either way, the classifier is unsure: the line is read both as
 * it is and turned, and the more confident reading is kept, so genuinely upside-down small
 * lines (which the classifier is often unsure of) are still read.
 */
export const confidentTurn = 0.9;

/** PaddleOCR's `drop_score`: a line read with less confidence than this is left out of `text`. */
export const dropScore = 0.5;

/** `turn`: read it turned; `keep`: read it as it is; `both`: read it both ways. */
export type LineOrientation = 'turn' | 'keep' | 'both';

/** The classifier's result (`null` when the optional step failed: the line goes on as it is). */
export function lineOrientation(direction: unknown): LineOrientation {
  const d = direction as { label?: unknown; confidence?: unknown } | null | undefined;
  if (d === null || d === undefined || typeof d.label !== 'string') return 'keep';
  const confidence = Number(d.confidence ?? 0);
  if (confidence < confidentTurn) return 'both';
  return d.label === '180' ? 'turn' : 'keep';
}
