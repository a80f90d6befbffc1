import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { suitesNeedingMissingFonts, testFonts } from '../fixtures/font-suites.js';

const root = path.resolve(import.meta.dirname, '../..');

describe('suites that render text, on a machine without the fonts', () => {
  it('are left out, named, with the packages to install, when a font is missing', () => {
    const withoutLiberation = new Set(Object.keys(testFonts).filter((f) => !f.startsWith('Liberation')));
    const skipped = suitesNeedingMissingFonts(root, withoutLiberation);
    expect(skipped.missing).toEqual(['Liberation Sans', 'Liberation Serif', 'Liberation Mono']);
    expect(skipped.packages).toEqual(['fonts-liberation']);
    // Every suite that renders text, and none that does not.
    expect(skipped.files).toEqual(
      expect.arrayContaining(['test/pipeline/ocr-pipeline.test.ts', 'test/api/serve.e2e.test.ts']),
    );
    expect(skipped.files).not.toContain('test/package/font-suites.test.ts');
    expect(skipped.files).not.toContain('test/queue/redis-broker.test.ts');
  });

  it('leaves everything in when every font is there', () => {
    expect(suitesNeedingMissingFonts(root, new Set(Object.keys(testFonts))).files).toEqual([]);
  });
});
