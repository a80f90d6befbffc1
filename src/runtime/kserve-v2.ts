import type { ModelInput, PredictParams } from './runtime.js';

/**
 * KServe v2 / Open Inference Protocol wire format (the REST flavour), with the binary tensor
 * data extension both Triton and KServe implement: a JSON header, then raw tensor bytes,
 * the JSON's length in `Inference-Header-Content-Length`. Image files then travel as bytes,
 * not as base64 inflating them by a third.
 */

/** A tensor in a v2 request or response. */
export interface V2Tensor {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown[];
}

/** An infer response; binary outputs already decoded into `data` by {@link decodeResponse}. */
export interface V2Response {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: V2Tensor[];
}

/** An infer request ready to send: the body and the headers that describe it. */
export interface EncodedRequest {
  body: Buffer;
  headers: Record<string, string>;
}

/** How {@link encodeRequest} shapes a request (from the model's `options`). */
export interface EncodeOptions {
  /** Name of the input tensor that carries bytes and pixels. */
  inputName: string;
  /** Send bytes with the binary extension (default) or base64 in JSON for servers without it. */
  binaryData: boolean;
}

/**
 * One item → one infer request. `bytes` become a one-element BYTES tensor, decoded pixels a
 * UINT8 `[height, width, channels]` tensor, a `value` holding `inputs` is sent as the
 * request itself (the client speaks v2), any other `value` as a JSON string. Params go in the
 * request's `parameters`.
 */
export function encodeRequest(
  input: ModelInput,
  params: PredictParams,
  id: string,
  options: EncodeOptions,
): EncodedRequest {
  const parameters = Object.keys(params).length > 0 ? { parameters: params } : {};
  if ('value' in input) {
    const value = input.value as { inputs?: unknown } | null;
    if (value !== null && typeof value === 'object' && Array.isArray(value.inputs)) {
      return jsonRequest({ id, ...parameters, ...(value as object) });
    }
    const tensor = {
      name: options.inputName,
      shape: [1],
      datatype: 'BYTES',
      data: [JSON.stringify(input.value)],
    };
    return jsonRequest({ id, ...parameters, inputs: [tensor] });
  }
  if ('bytes' in input) {
    if (!options.binaryData) {
      const data = [
        Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength).toString('base64'),
      ];
      return jsonRequest({
        id,
        ...parameters,
        inputs: [{ name: options.inputName, shape: [1], datatype: 'BYTES', data }],
      });
    }
    // A BYTES element in binary form is a 4-byte little-endian length, then the bytes.
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(input.bytes.byteLength);
    const binary = [prefix, input.bytes];
    const size = 4 + input.bytes.byteLength;
    const tensor = {
      name: options.inputName,
      shape: [1],
      datatype: 'BYTES',
      parameters: { binary_data_size: size },
    };
    return binaryRequest({ id, ...parameters, inputs: [tensor] }, binary);
  }
  const { image } = input;
  const shape = [image.height, image.width, image.channels];
  const tensor = {
    name: options.inputName,
    shape,
    datatype: 'UINT8',
    parameters: { binary_data_size: image.data.byteLength },
  };
  return binaryRequest({ id, ...parameters, inputs: [tensor] }, [image.data]);
}

function jsonRequest(header: object): EncodedRequest {
  return { body: Buffer.from(JSON.stringify(header)), headers: { 'content-type': 'application/json' } };
}

function binaryRequest(header: object, binary: Uint8Array[]): EncodedRequest {
  const json = Buffer.from(JSON.stringify(header));
  return {
    body: Buffer.concat([json, ...binary]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(json.byteLength),
    },
  };
}

/**
 * Parses an infer response; outputs sent in binary form get their `data` decoded into
 * plain arrays (BYTES as UTF-8 strings), so callers see one shape whatever the server chose.
 */
export function decodeResponse(body: Buffer, headerLength: number | undefined): V2Response {
  const jsonEnd = headerLength ?? body.byteLength;
  const response = JSON.parse(body.subarray(0, jsonEnd).toString('utf8')) as V2Response;
  if (!Array.isArray(response.outputs)) throw new Error('response has no "outputs" array');
  let offset = jsonEnd;
  for (const output of response.outputs) {
    const size = output.parameters?.binary_data_size;
    if (typeof size !== 'number') continue;
    const bytes = body.subarray(offset, offset + size);
    if (bytes.byteLength !== size) throw new Error(`output "${output.name}" is truncated`);
    offset += size;
    output.data = decodeBinary(output.datatype, bytes);
    const { binary_data_size: _, ...rest } = output.parameters ?? {};
    output.parameters = rest;
    if (Object.keys(rest).length === 0) delete output.parameters;
  }
  return response;
}

const numeric: Record<string, [bytes: number, read: (b: Buffer, at: number) => number | bigint]> = {
  BOOL: [1, (b, at) => b.readUInt8(at)],
  UINT8: [1, (b, at) => b.readUInt8(at)],
  INT8: [1, (b, at) => b.readInt8(at)],
  UINT16: [2, (b, at) => b.readUInt16LE(at)],
  INT16: [2, (b, at) => b.readInt16LE(at)],
  UINT32: [4, (b, at) => b.readUInt32LE(at)],
  INT32: [4, (b, at) => b.readInt32LE(at)],
  UINT64: [8, (b, at) => b.readBigUInt64LE(at)],
  INT64: [8, (b, at) => b.readBigInt64LE(at)],
  FP32: [4, (b, at) => b.readFloatLE(at)],
  FP64: [8, (b, at) => b.readDoubleLE(at)],
};

/**
 * The elements of a BYTES tensor in binary form (each a 4-byte little-endian length, then the
 * bytes); undefined when a length runs past the end.
 */
export function splitBytesElements(bytes: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.byteLength; ) {
    if (at + 4 > bytes.byteLength) return undefined;
    const length = bytes.readUInt32LE(at);
    if (at + 4 + length > bytes.byteLength) return undefined;
    out.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}

/** Bytes per element of each fixed-size datatype (BYTES has none). */
export function elementSize(datatype: string): number | undefined {
  return numeric[datatype]?.[0];
}

/** Binary tensor data as plain values (BYTES as UTF-8 strings; 64-bit integers beyond 2^53 as strings). */
export function decodeBinary(datatype: string, bytes: Buffer): unknown[] {
  if (datatype === 'BYTES') {
    const elements = splitBytesElements(bytes);
    if (elements === undefined) throw new Error('a BYTES output element runs past its data');
    return elements.map((element) => element.toString('utf8'));
  }
  const codec = numeric[datatype];
  if (!codec) throw new Error(`binary output of type ${datatype} is not supported`);
  const [size, read] = codec;
  const out: unknown[] = [];
  for (let at = 0; at + size <= bytes.byteLength; at += size) {
    const value = read(bytes, at);
    // JSON has no 64-bit integers: keep exact ones as numbers, the rest as strings.
    out.push(
      typeof value === 'bigint'
        ? Number.isSafeInteger(Number(value))
          ? Number(value)
          : String(value)
        : datatype === 'BOOL'
          ? value !== 0
          : value,
    );
  }
  return out;
}

const writers: Record<string, (b: Buffer, value: number, at: number) => void> = {
  BOOL: (b, v, at) => b.writeUInt8(v ? 1 : 0, at),
  UINT8: (b, v, at) => b.writeUInt8(v, at),
  INT8: (b, v, at) => b.writeInt8(v, at),
  UINT16: (b, v, at) => b.writeUInt16LE(v, at),
  INT16: (b, v, at) => b.writeInt16LE(v, at),
  UINT32: (b, v, at) => b.writeUInt32LE(v, at),
  INT32: (b, v, at) => b.writeInt32LE(v, at),
  UINT64: (b, v, at) => b.writeBigUInt64LE(BigInt(Math.trunc(v)), at),
  INT64: (b, v, at) => b.writeBigInt64LE(BigInt(Math.trunc(v)), at),
  FP32: (b, v, at) => b.writeFloatLE(v, at),
  FP64: (b, v, at) => b.writeDoubleLE(v, at),
};

/**
 * The inverse of {@link decodeBinary}: values in the binary form of `datatype` (BYTES: each
 * element a 4-byte little-endian length, then its UTF-8 or raw bytes).
 */
export function encodeBinary(datatype: string, values: readonly unknown[]): Buffer {
  if (datatype === 'BYTES') {
    const parts: Buffer[] = [];
    for (const value of values) {
      const bytes = Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'utf8');
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(bytes.byteLength);
      parts.push(prefix, bytes);
    }
    return Buffer.concat(parts);
  }
  const size = elementSize(datatype);
  const write = writers[datatype];
  if (size === undefined || write === undefined)
    throw new Error(`binary data of type ${datatype} is not supported`);
  const out = Buffer.alloc(size * values.length);
  values.forEach((value, i) => {
    write(out, Number(value), i * size);
  });
  return out;
}
