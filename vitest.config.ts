import { defineConfig } from 'vitest/config';
import { installedFontFamilies, suitesNeedingMissingFonts } from './test/fixtures/font-suites.js';

// Suites that render text need Debian's fonts. Where the test command could not install them,
// they are left out and named here, loudly, instead of failing on misreads.
const fonts = suitesNeedingMissingFonts(import.meta.dirname, installedFontFamilies());
if (fonts.files.length > 0) {
  process.stderr.write(
    `!! fonts missing: ${fonts.missing.join(', ')} (apt-get install ${fonts.packages.join(' ')}; npm test does as root). SKIPPED, as they render text:\n${fonts.files.map((f) => `  - ${f}`).join('\n')}\n`,
  );
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...fonts.files],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
