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

/** Options of `ctcGreedyDecode`. */
export interface CtcDecodeOptions {
  /**
   * Space evidence: between two emitted characters that are not CJK (and not spaces), a space
   * is put in when the space class's highest probability over the frames between them is at
   * least this. Undefined (or with no space class): plain greedy decoding.
   */
  spaceThreshold?: number;
}

/** Scripts written without spaces between words: no space is ever inferred next to these. */
const noSpaceScript =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uffef]/u;

/**
 * Greedy (best path) CTC decoding of one sequence: take the most likely class at each time
 * step, merge repeats, drop blanks (index 0). Same result and confidence as PaddleOCR's
 * `CTCLabelDecode` with `is_remove_duplicate=True`, except for `spaceThreshold`.
 *
 * Why `spaceThreshold`: the Chinese-dictionary CTC head often scores blank just above the
 * space class in the frames between two Latin words, so best-path decoding drops the space
 * ("FIRE EXIT" → "FIREEXIT"), and a pixel of crop margin flips it. Inside a word the space
 * class stays near zero (below 0.005 on the development set of bench/pipelines), between
 * words it rises to a few percent or more even when blank wins. The *maximum* over the gap
 * is used, not the mean: a wide gap has blank-only frames at its edges that would dilute a
 * mean, so the mean would depend on letter spacing and font size; the peak does not. A space
 * inferred this way adds no probability to `confidence` (it is the characters' mean).
 *
 * @param probs `[steps, classes]` probabilities (softmax output), row-major.
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  steps: number,
  classes: number,
  characters: readonly string[],
  options: CtcDecodeOptions = {},
): RecognizedText {
  if (probs.length < steps * classes) throw new RangeError(`expected ${steps}×${classes} probabilities`);
  const space = characters[classes - 1] === ' ' ? classes - 1 : -1;
  const threshold = space >= 0 ? options.spaceThreshold : undefined;
  let text = '';
  let sum = 0;
  let kept = 0;
  let previous = -1;
  /** The last emitted character, and the highest space probability since its run ended. */
  let last = '';
  let gapSpace = 0;
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
      const char = characters[best] ?? '';
      if (
        threshold !== undefined &&
        gapSpace >= threshold &&
        char !== ' ' &&
        last !== '' &&
        last !== ' ' &&
        !noSpaceScript.test(last) &&
        !noSpaceScript.test(char)
      ) {
        text += ' ';
      }
      text += char;
      sum += bestProb;
      kept++;
      last = char;
      gapSpace = 0;
    } else if (best === 0 && space >= 0) {
      gapSpace = Math.max(gapSpace, probs[row + space]!);
    }
    previous = best;
  }
  return { text, confidence: kept === 0 ? 0 : sum / kept };
}
