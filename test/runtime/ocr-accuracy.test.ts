import { describe, expect, it } from 'vitest';
import { emptyWordAccuracy, scoreWords } from '../../bench/lib/ocr-accuracy.js';

describe('scoreWords', () => {
  it('counts known words as a multiset, case-insensitive, and the read words left over as stray', () => {
    const a = emptyWordAccuracy();
    scoreWords(
      ['FIRE EXIT', 'no no parking'],
      [{ text: 'fire exit' }, { text: 'NO PARKlNG' }, { text: 'x' }],
      a,
    );
    expect(a).toEqual({ found: 3, words: 5, compactFound: 3, stray: 2 });
  });

  it('finds fused words in compact recall only, each occurrence once', () => {
    const a = emptyWordAccuracy();
    scoreWords(['FIRE EXIT', 'exit'], [{ text: 'FIREEXIT' }], a);
    // "fireexit" holds one "exit" and one "fire": the second "exit" is not there.
    expect(a).toEqual({ found: 0, words: 3, compactFound: 2, stray: 1 });
  });

  it('scores nothing read as zero, with no stray words', () => {
    const a = emptyWordAccuracy();
    scoreWords(['Open Daily'], [], a);
    expect(a).toEqual({ found: 0, words: 2, compactFound: 0, stray: 0 });
  });
});
