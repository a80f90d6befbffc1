import { readFile } from 'node:fs/promises';
import { InferqError } from '../../errors/index.js';
import { decodeImages } from '../image/decode-image.js';
import type { ResolvedModel } from '../model-repository.js';
import { numberSetting } from '../model-settings.js';
import { asItemError, type OnnxProcessor, type OnnxSession } from '../onnx-processor.js';
import type { PredictParams, PredictResult, RawImage } from '../runtime.js';
import { type CtcDecodeOptions, ctcCharacters, ctcGreedyDecode, type RecognizedText } from './ctc-decode.js';
import { lineTensor, recBatchWidth } from './line-preprocess.js';

/**
 * PP-OCRv4 text recognition (SVTR + CTC) over text-line crops.
 *
 * Each line is padded to its own width (`ceil(48 × w / h)`, at least `minWidth` = 320),
 * rounded up to a multiple of `widthStep`, and lines of equal padded width share a session
 * run, `batchSize` at a time. PaddleOCR instead pads each group of 6 lines (sorted by
 * aspect ratio) to the group's widest, which makes a line's text depend on its batch-mates:
 * the same crop read "Hello World 2026" or "HelloWorld 2026" depending on the other lines of
 * the page. Under dynamic batching the batch-mates are whoever else was queued, so a line is
 * padded by itself alone: the same crop always reads the same, exactly as PaddleOCR reads it
 * with `rec_batch_num: 1`. Short lines (most words and numbers) all pad to 320 and still
 * batch together; `widthStep: 32` trades a little of that exactness for bigger batches.
 */
export async function createProcessor(model: ResolvedModel): Promise<OnnxProcessor> {
  const dictionaryPath = model.artifactPaths.dictionary;
  if (dictionaryPath === undefined) {
    throw new InferqError(
      'INFERQ_MODEL_SPEC_INVALID',
      `${model.specPath}: key "artifacts.dictionary" is required by builtin:ocr-rec`,
      {
        details: { file: model.specPath, key: 'artifacts.dictionary' },
      },
    );
  }
  const useSpaceChar = model.spec.options?.useSpaceChar !== false;
  const characters = ctcCharacters(await readFile(dictionaryPath, 'utf8'), useSpaceChar);
  const height = numberSetting(model, 'imageHeight', 48, { min: 8, integer: true });
  const minWidth = numberSetting(model, 'minWidth', 320, { min: 8, integer: true });
  const batchSize = numberSetting(model, 'batchSize', 6, { min: 1, integer: true });
  const widthStep = numberSetting(model, 'widthStep', 1, { min: 1, integer: true });
  // See ctcGreedyDecode for why; models/README.md for how 0.02 was chosen.
  const decodeOptions = (params: PredictParams = {}): CtcDecodeOptions => {
    const spaceThreshold = numberSetting(model, 'spaceThreshold', 0.02, { min: 0, max: 1 }, params);
    return { spaceThreshold: spaceThreshold > 0 ? spaceThreshold : undefined };
  };
  decodeOptions(); // refuse a bad option at load time, not on the first task
  const maxPixels = model.spec.input.maxPixels;
  const paddedWidth = (image: RawImage) =>
    Math.ceil(recBatchWidth([image], height, minWidth) / widthStep) * widthStep;

  return {
    async predict(batch, params, session) {
      const results: PredictResult[] = new Array(batch.length);
      let decode: CtcDecodeOptions;
      try {
        decode = decodeOptions(params);
      } catch (err) {
        return batch.map(() => ({ ok: false as const, error: asItemError(err) }));
      }
      const groups = new Map<number, { index: number; image: RawImage }[]>();
      for (const [index, decoded] of (await decodeImages(batch, maxPixels)).entries()) {
        if (!decoded.ok) {
          results[index] = { ok: false, error: asItemError(decoded.error) };
          continue;
        }
        const width = paddedWidth(decoded.image);
        groups.set(width, [...(groups.get(width) ?? []), { index, image: decoded.image }]);
      }
      for (const [width, lines] of groups) {
        for (let start = 0; start < lines.length; start += batchSize) {
          const group = lines.slice(start, start + batchSize);
          const images = group.map((l) => l.image);
          const texts = await recognize(images, width, session, height, characters, decode);
          for (const [k, line] of group.entries()) results[line.index] = { ok: true, output: texts[k]! };
        }
      }
      return results;
    },
  };
}

async function recognize(
  images: RawImage[],
  width: number,
  session: OnnxSession,
  height: number,
  characters: readonly string[],
  decode: CtcDecodeOptions,
): Promise<RecognizedText[]> {
  const data = lineTensor(images, height, width);
  const outputs = await session.run({
    [session.inputNames[0]!]: { type: 'float32', data, dims: [images.length, 3, height, width] },
  });
  // Output is [n, steps, classes]: per time step, a softmax over blank + characters.
  const probs = outputs[session.outputNames[0]!]!;
  const [, steps = 0, classes = 0] = probs.dims;
  if (classes !== characters.length) {
    throw new InferqError(
      'INFERQ_MODEL_LOAD_FAILED',
      `the recogniser has ${classes} classes but the dictionary gives ${characters.length} (blank + lines${characters.at(-1) === ' ' ? ' + space' : ''})`,
    );
  }
  const all = probs.data as Float32Array;
  return images.map((_, n) =>
    ctcGreedyDecode(
      all.subarray(n * steps * classes, (n + 1) * steps * classes),
      steps,
      classes,
      characters,
      decode,
    ),
  );
}
