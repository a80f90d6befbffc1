import { InferqError } from '../errors/index.js';
import type { ResolvedModel } from './model-repository.js';
import { type OnnxProcessor, settleEach, type Tensor, type TensorData } from './onnx-processor.js';

/** A tensor as JSON: what a `tensor`/`json` input carries and what this processor returns. */
export interface JsonTensor {
  type: string;
  dims: number[];
  data: number[];
}

const constructors: Record<string, new (values: number[]) => TensorData> = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
};

/**
 * The default for onnx models without a processor: each item's `value` maps input names to
 * JSON tensors (`{ type, dims, data }`), one session run per item, every output returned
 * as a JSON tensor. Good for small numeric models; anything with images wants its own processor.
 */
export function createProcessor(_model: ResolvedModel): OnnxProcessor {
  return {
    predict(batch, _params, session) {
      return settleEach(batch, async (input) => {
        if (!('value' in input) || input.value === null || typeof input.value !== 'object') {
          throw new InferqError(
            'INFERQ_INPUT_UNDECODABLE',
            'this model takes a JSON object of named tensors',
          );
        }
        const feeds: Record<string, Tensor> = {};
        for (const [name, raw] of Object.entries(input.value as Record<string, unknown>)) {
          feeds[name] = toTensor(name, raw);
        }
        const outputs = await session.run(feeds);
        const result: Record<string, JsonTensor> = {};
        for (const [name, tensor] of Object.entries(outputs)) {
          result[name] = {
            type: tensor.type,
            dims: [...tensor.dims],
            data: Array.from(tensor.data as ArrayLike<number | bigint>, Number),
          };
        }
        return result;
      });
    },
  };
}

function toTensor(name: string, raw: unknown): Tensor {
  const t = raw as Partial<JsonTensor> | null;
  const make = t && typeof t.type === 'string' ? constructors[t.type] : undefined;
  const dims = t?.dims;
  const data = t?.data;
  const valid =
    make !== undefined &&
    Array.isArray(dims) &&
    dims.every((d) => Number.isInteger(d) && d >= 0) &&
    Array.isArray(data) &&
    data.every((v) => typeof v === 'number') &&
    data.length === dims.reduce((a, b) => a * b, 1);
  if (!valid) {
    throw new InferqError(
      'INFERQ_INPUT_UNDECODABLE',
      `input "${name}" must be { type: ${Object.keys(constructors).join('|')}, dims: int[], data: number[] } with data.length = product(dims)`,
      { details: { input: name } },
    );
  }
  return { type: t!.type!, dims: dims!, data: new make!(data!) };
}
