/** A recognised text line. `confidence` is the mean probability of the characters kept. */
export interface RecognizedText {
  text: string;
  confidence: number;
}

/**
 * The recogniser's class list, built as PaddleOCR's `CTCLabelDecode` builds it: index 0 is
 * the CTC blank, then one class per line of the dictionary file, then (with
 * `use_space_char`, on for the Chinese models) a space. `ppocr_keys_v1.txt` has 6623 lines,
 * so the model's 6625 classes are blank + 6623 + space.
 */
export function ctcCharacters(dictionary: string, useSpaceChar = true): string[] {
  const lines = dictionary.split('\n').map((line) => line.replace(/^[\r\n]+|[\r\n]+$/g, ''));
  // A final newline ends the last line; it does not start an empty one.
  if (lines.at(-1) === '') lines.pop();
  return ['', ...lines, ...(useSpaceChar ? [' '] : [])];
}

/**
 * Greedy (best path) CTC decoding of one sequence: take the most likely class at each time
 * step, merge repeats, drop blanks (index 0). Same result and confidence as PaddleOCR's
 * `CTCLabelDecode` with `is_remove_duplicate=True`.
 *
 * @param probs `[steps, classes]` probabilities (softmax output), row-major.
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  steps: number,
  classes: number,
  characters: readonly string[],
): RecognizedText {
  if (probs.length < steps * classes) throw new RangeError(`expected ${steps}×${classes} probabilities`);
  let text = '';
  let sum = 0;
  let kept = 0;
  let previous = -1;
  for (let t = 0; t < steps; t++) {
    const row = t * classes;
    let best = 0;
    let bestProb = probs[row]!;
    for (let c = 1; c < classes; c++) {
      const p = probs[row + c]!;
      if (p > bestProb) {
        best = c;
        bestProb = p;
      }
    }
    if (best !== 0 && best !== previous) {
      text += characters[best] ?? '';
      sum += bestProb;
      kept++;
    }
    previous = best;
  }
  return { text, confidence: kept === 0 ? 0 : sum / kept };
}
