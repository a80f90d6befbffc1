import type { ModelSpec } from '../core/model-spec.js';
import { InferqError } from '../errors/index.js';
import type { DecodedRequest, RequestedOutput } from '../runtime/kserve-v2-request.js';
import type { OutputTensor } from '../runtime/kserve-v2-response.js';

type Tensors = NonNullable<ModelSpec['tensors']>;

/**
 * A v2 request's inputs as the one input an inferq model takes. A signature of one BYTES
 * element (every bundled model: an image or a file) gives that element's bytes, as a /v1
 * upload would; any other signature gives its tensors as a JSON document
 * `{ "<input>": [data…] }` (a json-input model reads its fields).
 */
export function modelInputBytes(tensors: Tensors, request: DecodedRequest): Buffer {
  const only = tensors.inputs.length === 1 ? tensors.inputs[0] : undefined;
  if (only?.datatype === 'BYTES' && only.shape.every((d) => d === 1)) {
    const element = request.inputs[0]?.data[0];
    if (Buffer.isBuffer(element)) return element;
  }
  const doc = Object.fromEntries(
    request.inputs.map((i) => [
      i.name,
      i.datatype === 'BYTES' ? (i.data as Buffer[]).map((b) => b.toString('utf8')) : i.data,
    ]),
  );
  return Buffer.from(JSON.stringify(doc));
}

/**
 * A model's output as the v2 output tensors the request asks for (all declared ones when it
 * names none). An object output gives each tensor its field; BYTES tensors carry strings as they
 * are and anything else as JSON (echo's `params`, ocr-det's `boxes`). Binary when the output asks
 * (`binary_data`) or the request does (`binary_data_output`).
 */
export function outputTensors(tensors: Tensors, output: unknown, request: DecodedRequest): OutputTensor[] {
  const declared = tensors.outputs;
  const binaryDefault = request.parameters?.binary_data_output === true;
  const wanted: RequestedOutput[] = request.outputs ?? declared.map((d) => ({ name: d.name }));
  return wanted.map((want) => {
    const tensor = declared.find((d) => d.name === want.name);
    if (tensor === undefined) {
      throw new InferqError(
        'INFERQ_OIP_TENSOR_INVALID',
        `output "${want.name}": the model has no such output; it gives ${declared.map((d) => d.name).join(', ')}`,
        { details: { output: want.name } },
      );
    }
    const value =
      output !== null && typeof output === 'object' && !Array.isArray(output)
        ? (output as Record<string, unknown>)[tensor.name]
        : declared.length === 1
          ? output
          : undefined;
    const values = Array.isArray(value) && tensor.datatype !== 'BYTES' ? value : [value];
    const data = values.map((v) =>
      tensor.datatype === 'BYTES'
        ? typeof v === 'string'
          ? v
          : JSON.stringify(v ?? null)
        : tensor.datatype === 'BOOL'
          ? Boolean(v)
          : Number(v),
    );
    const binary = want.parameters?.binary_data ?? binaryDefault;
    return {
      name: tensor.name,
      datatype: tensor.datatype,
      shape: tensor.shape.some((d) => d === -1) ? [data.length] : tensor.shape,
      data,
      binary: binary === true,
    };
  });
}
