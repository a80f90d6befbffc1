import { encodeBinary } from './kserve-v2.js';

/** One output tensor to send, its data flat. */
export interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
  /** Send the data with the binary extension instead of in the JSON. */
  binary: boolean;
}

/**
 * The server side of {@link decodeResponse}: an infer response as JSON or, when any output is
 * binary, the JSON header then each binary output's bytes in order, the header's length in
 * `Inference-Header-Content-Length` (the binary-data extension, as Triton answers).
 */
export function encodeInferResponse(
  header: { model_name: string; model_version: string; id?: string },
  outputs: readonly OutputTensor[],
): { body: Buffer; headers: Record<string, string> } {
  const binaries: Buffer[] = [];
  const tensors = outputs.map(({ name, datatype, shape, data, binary }) => {
    if (!binary) return { name, datatype, shape, data };
    const bytes = encodeBinary(datatype, data);
    binaries.push(bytes);
    return { name, datatype, shape, parameters: { binary_data_size: bytes.byteLength } };
  });
  const json = Buffer.from(JSON.stringify({ ...header, outputs: tensors }));
  if (binaries.length === 0) return { body: json, headers: { 'content-type': 'application/json' } };
  return {
    body: Buffer.concat([json, ...binaries]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(json.byteLength),
    },
  };
}
