import { decodeImages } from '../image/decode-image.js';
import type { ResolvedModel } from '../model-repository.js';
import { numberSetting } from '../model-settings.js';
import { asItemError, type OnnxProcessor } from '../onnx-processor.js';
import type { PredictResult, RawImage } from '../runtime.js';
import { lineTensor } from './line-preprocess.js';

/** Result of `ocr-cls` for one text line. */
export interface ClsOutput {
  /** `180` when the line is upside down (rotate it before recognition). */
  label: '0' | '180';
  /** Softmax probability of `label`. PaddleOCR only rotates above 0.9 (`cls_thresh`). */
  confidence: number;
}

const labels = ['0', '180'] as const;

/**
 * Text-line direction classifier (PaddleOCR mobile v2.0 cls): each line scaled to 48 px high
 * and at most 192 wide, padded to 192, `batchSize` lines per run.
 */
export function createProcessor(model: ResolvedModel): OnnxProcessor {
  const height = numberSetting(model, 'imageHeight', 48, { min: 8, integer: true });
  const width = numberSetting(model, 'imageWidth', 192, { min: 8, integer: true });
  const batchSize = numberSetting(model, 'batchSize', 6, { min: 1, integer: true });
  const maxPixels = model.spec.input.maxPixels;

  return {
    async predict(batch, _params, session) {
      const results: PredictResult[] = new Array(batch.length);
      const lines: { index: number; image: RawImage }[] = [];
      for (const [index, decoded] of (await decodeImages(batch, maxPixels)).entries()) {
        if (decoded.ok) lines.push({ index, image: decoded.image });
        else results[index] = { ok: false, error: asItemError(decoded.error) };
      }
      for (let start = 0; start < lines.length; start += batchSize) {
        const group = lines.slice(start, start + batchSize);
        const data = lineTensor(
          group.map((l) => l.image),
          height,
          width,
        );
        const outputs = await session.run({
          [session.inputNames[0]!]: { type: 'float32', data, dims: [group.length, 3, height, width] },
        });
        // Output is [n, 2]: softmax over (0°, 180°).
        const probs = outputs[session.outputNames[0]!]!.data as Float32Array;
        for (const [k, line] of group.entries()) {
          const up = probs[k * 2]!;
          const down = probs[k * 2 + 1]!;
          const output: ClsOutput =
            down > up ? { label: labels[1], confidence: down } : { label: labels[0], confidence: up };
          results[line.index] = { ok: true, output };
        }
      }
      return results;
    },
  };
}
