import { type DevPart, devParts, renderDevSet } from '../../test/fixtures/ocr-dev-set.js';
import {
  emptyWordAccuracy,
  formatWordAccuracy,
  type ReadLine,
  scoreWords,
  type WordAccuracy,
} from './ocr-accuracy.js';

/** An OCR system under test: its name and how it reads one image. */
export interface NamedReader {
  name: string;
  read: (image: Buffer) => Promise<ReadLine[]>;
}

/** The known text of the skimage photographs that have text (scripts/fetch-test-images.sh). */
export const photoTruth: Readonly<Record<string, readonly string[]>> = {
  'page.png': [
    'Region-based segmentation',
    'Let us first determine markers of the coins and the',
    'background. These markers are pixels that we can label',
    'unambiguously as either object or background. Here,',
    'the markers are found at the two extreme parts of the',
    'histogram of grey values:',
    '>>> markers = np.zeros_like(coins)',
  ],
  'bw_text.png': [
    'Men may seem detestable as joint',
    'stock-companies and nations; knaves,',
    'fools, and murderers there may be;',
    'men may have mean and meagre',
    'faces; but, man, in the ideal, is so',
    'noble and so sparkling, such a grand',
    'and glowing creature, that over any',
    'ignominious blemish in him all his',
    'fellows should run to throw their',
    'costliest robes.',
  ],
};

/**
 * Word recall, compact recall and stray words of each reader, side by side, on each part of
 * the development set rendered from `seed` (`perPart` images a part) and on the photographs
 * given (name → bytes, scored against `photoTruth`). Returns the rows it printed.
 */
export async function printWordAccuracy(
  readers: readonly NamedReader[],
  options: { seed: number; perPart: number; photos: ReadonlyMap<string, Buffer> },
): Promise<Record<string, Record<string, WordAccuracy>>> {
  const set = await renderDevSet(options.seed, options.perPart);
  const rows: Record<string, Record<string, WordAccuracy>> = {};
  for (const reader of readers) {
    const byPart: Record<string, WordAccuracy> = {};
    for (const image of set) {
      const read = await reader.read(image.bytes);
      byPart[image.part] ??= emptyWordAccuracy();
      scoreWords(image.lines, read, byPart[image.part]!);
    }
    const photos = emptyWordAccuracy();
    for (const [name, bytes] of options.photos) {
      const truth = photoTruth[name];
      if (truth !== undefined) scoreWords(truth, await reader.read(bytes), photos);
    }
    if (options.photos.size > 0) byPart['skimage text photos'] = photos;
    rows[reader.name] = byPart;
  }
  const parts: string[] = [...devParts, ...(options.photos.size > 0 ? ['skimage text photos'] : [])];
  console.log(
    `\nword accuracy: development set (seed ${options.seed}, ${options.perPart} images a part; test/fixtures/ocr-dev-set.ts)${options.photos.size > 0 ? ` and ${[...options.photos.keys()].join(', ')}` : ''}`,
  );
  for (const part of parts) {
    for (const reader of readers) {
      const a = rows[reader.name]![part as DevPart];
      if (a) console.log(`  ${part.padEnd(20)} ${reader.name.padEnd(9)} ${formatWordAccuracy(a)}`);
    }
  }
  for (const reader of readers) {
    const total = emptyWordAccuracy();
    for (const part of parts) {
      const a = rows[reader.name]![part]!;
      total.found += a.found;
      total.words += a.words;
      total.compactFound += a.compactFound;
      total.stray += a.stray;
    }
    console.log(`  ${'all'.padEnd(20)} ${reader.name.padEnd(9)} ${formatWordAccuracy(total)}`);
  }
  return rows;
}
