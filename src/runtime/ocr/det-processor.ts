import { InferqError } from '../../errors/index.js';
import { decodeImage } from '../image/decode-image.js';
import type { ResolvedModel } from '../model-repository.js';
import { choiceSetting, numberSetting } from '../model-settings.js';
import { asItemError, type OnnxProcessor, settleEach } from '../onnx-processor.js';
import type { PredictParams } from '../runtime.js';
import { type DbOptions, dbPostprocess, defaultDbOptions, type TextBox } from './db-postprocess.js';
import { detPreprocess, type LimitType } from './det-preprocess.js';

/** Result of `ocr-det` for one image. */
export interface DetOutput {
  /** Size of the image as decoded (EXIF orientation applied): the boxes' coordinate space. */
  width: number;
  height: number;
  /** Text regions in reading order. */
  boxes: TextBox[];
}

interface DetSettings extends DbOptions {
  limitSideLen: number;
  limitType: LimitType;
  borderPad: number;
}

function settings(model: ResolvedModel, params: PredictParams): DetSettings {
  const unit = { min: 0, max: 1 };
  return {
    limitSideLen: numberSetting(model, 'limitSideLen', 960, { min: 32, max: 4096, integer: true }, params),
    limitType: choiceSetting(model, 'limitType', ['max', 'min'] as const, 'max', params),
    thresh: numberSetting(model, 'thresh', defaultDbOptions.thresh, unit, params),
    boxThresh: numberSetting(model, 'boxThresh', defaultDbOptions.boxThresh, unit, params),
    unclipRatio: numberSetting(
      model,
      'unclipRatio',
      defaultDbOptions.unclipRatio,
      { min: 0, max: 10 },
      params,
    ),
    maxCandidates: numberSetting(model, 'maxCandidates', defaultDbOptions.maxCandidates, {
      min: 1,
      integer: true,
    }),
    minSize: defaultDbOptions.minSize,
    scoreMode: choiceSetting(
      model,
      'scoreMode',
      ['fast', 'slow'] as const,
      defaultDbOptions.scoreMode,
      params,
    ),
    borderPad: borderPadSetting(model, params),
  };
}

/** `borderPad`: pixels framing the resized input on each side, a multiple of 16 (sides stay multiples of 32). */
function borderPadSetting(model: ResolvedModel, params: PredictParams): number {
  const pad = numberSetting(model, 'borderPad', 16, { min: 0, max: 256, integer: true }, params);
  if (pad % 16 !== 0) {
    const fromParams = params.borderPad !== undefined;
    throw new InferqError(
      fromParams ? 'INFERQ_VALIDATION_FAILED' : 'INFERQ_MODEL_SPEC_INVALID',
      fromParams
        ? 'param "borderPad" must be a multiple of 16 (the detector input stays a multiple of 32)'
        : `${model.specPath}: key "options.borderPad" must be a multiple of 16 (got ${pad})`,
      { details: { key: 'borderPad', value: pad } },
    );
  }
  return pad;
}

/**
 * PP-OCRv4 text detection (DB): image → resized, normalised tensor → probability map → boxes.
 * Images differ in size, so each one is its own session run.
 */
export function createProcessor(model: ResolvedModel): OnnxProcessor {
  settings(model, {}); // refuse bad options at load time, not on the first task
  const maxPixels = model.spec.input.maxPixels;
  return {
    async predict(batch, params, session) {
      let s: DetSettings;
      try {
        s = settings(model, params);
      } catch (err) {
        return batch.map(() => ({ ok: false as const, error: asItemError(err) }));
      }
      return settleEach(batch, async (input): Promise<DetOutput> => {
        const image = await decodeImage(input, maxPixels);
        const { tensor, width, height, pad } = detPreprocess(image, s.limitSideLen, s.limitType, s.borderPad);
        const outputs = await session.run({
          [session.inputNames[0]!]: { type: 'float32', data: tensor, dims: [1, 3, height, width] },
        });
        const map = outputs[session.outputNames[0]!]!;
        // Output is [1, 1, H, W]: one probability per input pixel.
        const data = map.data as Float32Array;
        const boxes = dbPostprocess(
          { data, width: map.dims[3]!, height: map.dims[2]!, pad },
          image.width,
          image.height,
          s,
        );
        return { width: image.width, height: image.height, boxes };
      });
    },
  };
}
