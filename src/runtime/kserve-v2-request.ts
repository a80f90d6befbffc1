import { InferqError } from '../errors/index.js';
import { decodeBinary, elementSize, splitBytesElements, type V2Tensor } from './kserve-v2.js';

/** A declared tensor: what a v2 client must send (model.yaml `tensors`). */
export interface TensorSignature {
  name: string;
  datatype: string;
  shape: number[];
}

/** One input of an infer request, checked against its signature. */
export interface DecodedInput {
  name: string;
  datatype: string;
  shape: number[];
  /** BYTES elements as raw bytes (an image file stays binary); other datatypes as numbers (BOOL as booleans). */
  data: Buffer[] | number[] | boolean[];
}

/** An output the request asks for, with its parameters (`binary_data: true`: send it binary). */
export interface RequestedOutput {
  name: string;
  parameters?: Record<string, unknown>;
}

export interface DecodedRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: DecodedInput[];
  /** The outputs named in the request; absent: all of them. */
  outputs?: RequestedOutput[];
}

const invalid = (input: string, message: string, details: Record<string, unknown> = {}) =>
  new InferqError('INFERQ_OIP_TENSOR_INVALID', `input "${input}": ${message}`, {
    details: { input, ...details },
  });

/**
 * The server side of {@link decodeResponse}: parses an infer request (JSON, or JSON then
 * binary tensor data, the JSON's length in `Inference-Header-Content-Length`) and holds each
 * input to its declared datatype and shape, and its data to the element count the shape says.
 * Every refusal is a 400 naming the input.
 */
export function decodeInferRequest(
  body: Buffer,
  headerLength: number | undefined,
  signature: readonly TensorSignature[],
): DecodedRequest {
  if (headerLength !== undefined && (headerLength < 0 || headerLength > body.byteLength)) {
    throw new InferqError(
      'INFERQ_BODY_MALFORMED',
      `Inference-Header-Content-Length ${headerLength} is outside the body (${body.byteLength} bytes)`,
    );
  }
  const jsonEnd = headerLength ?? body.byteLength;
  let header: { id?: unknown; parameters?: unknown; inputs?: unknown; outputs?: unknown };
  try {
    header = JSON.parse(body.subarray(0, jsonEnd).toString('utf8')) as typeof header;
  } catch (cause) {
    throw new InferqError('INFERQ_BODY_MALFORMED', 'the infer request header is not valid JSON', { cause });
  }
  if (header === null || typeof header !== 'object' || !Array.isArray(header.inputs)) {
    throw new InferqError('INFERQ_BODY_MALFORMED', 'an infer request needs an "inputs" array');
  }
  const sent = header.inputs as V2Tensor[];
  let offset = jsonEnd;
  const inputs: DecodedInput[] = [];
  for (const tensor of sent) {
    const name = typeof tensor?.name === 'string' ? tensor.name : '(unnamed)';
    const declared = signature.find((s) => s.name === name);
    if (declared === undefined) {
      throw invalid(name, `the model has no such input; it takes ${signature.map((s) => s.name).join(', ')}`);
    }
    if (tensor.datatype !== declared.datatype) {
      throw invalid(name, `datatype ${String(tensor.datatype)}, the model takes ${declared.datatype}`, {
        datatype: tensor.datatype,
        expected: declared.datatype,
      });
    }
    const shape = tensor.shape;
    const shapeFits =
      Array.isArray(shape) &&
      shape.length === declared.shape.length &&
      shape.every(
        (d, i) => Number.isInteger(d) && d >= 0 && (declared.shape[i] === -1 || d === declared.shape[i]),
      );
    if (!shapeFits) {
      throw invalid(
        name,
        `shape ${JSON.stringify(shape)}, the model takes [${declared.shape.join(', ')}] (-1: any size)`,
        {
          shape,
          expected: declared.shape,
        },
      );
    }
    const count = shape.reduce((a, b) => a * b, 1);
    const size = tensor.parameters?.binary_data_size;
    let data: DecodedInput['data'];
    if (size !== undefined) {
      if (
        typeof size !== 'number' ||
        !Number.isInteger(size) ||
        size < 0 ||
        offset + size > body.byteLength
      ) {
        throw invalid(
          name,
          `binary_data_size ${String(size)} runs past the body's ${body.byteLength - offset} remaining bytes`,
        );
      }
      data = binaryData(name, declared.datatype, body.subarray(offset, offset + size), count);
      offset += size;
    } else {
      data = jsonData(name, declared.datatype, tensor.data, count);
    }
    inputs.push({ name, datatype: declared.datatype, shape, data });
  }
  for (const declared of signature) {
    if (!inputs.some((i) => i.name === declared.name))
      throw invalid(declared.name, 'missing from the request');
  }
  if (offset !== body.byteLength) {
    throw new InferqError(
      'INFERQ_BODY_MALFORMED',
      `the body has ${body.byteLength - offset} bytes after the inputs' binary data`,
    );
  }
  return {
    ...(typeof header.id === 'string' ? { id: header.id } : {}),
    ...(header.parameters !== null && typeof header.parameters === 'object'
      ? { parameters: header.parameters as Record<string, unknown> }
      : {}),
    inputs,
    ...(Array.isArray(header.outputs) ? { outputs: requestedOutputs(header.outputs) } : {}),
  };
}

function requestedOutputs(outputs: unknown[]): RequestedOutput[] {
  return outputs.map((output) => {
    const o = output as { name?: unknown; parameters?: unknown } | null;
    if (o === null || typeof o !== 'object' || typeof o.name !== 'string') {
      throw new InferqError('INFERQ_BODY_MALFORMED', 'each entry of "outputs" needs a "name"');
    }
    return {
      name: o.name,
      ...(o.parameters !== null && typeof o.parameters === 'object'
        ? { parameters: o.parameters as Record<string, unknown> }
        : {}),
    };
  });
}

function binaryData(name: string, datatype: string, bytes: Buffer, count: number): DecodedInput['data'] {
  if (datatype === 'BYTES') {
    const elements = splitBytesElements(bytes);
    if (elements === undefined || elements.length !== count) {
      throw invalid(
        name,
        `binary BYTES data holds ${elements?.length ?? 'malformed'} elements, the shape says ${count}`,
      );
    }
    return elements;
  }
  const size = elementSize(datatype) ?? 0;
  if (size === 0 || bytes.byteLength !== count * size) {
    throw invalid(name, `binary data is ${bytes.byteLength} bytes, the shape says ${count * size}`, {
      bytes: bytes.byteLength,
      expected: count * size,
    });
  }
  return decodeBinary(datatype, bytes) as number[] | boolean[];
}

function jsonData(name: string, datatype: string, data: unknown, count: number): DecodedInput['data'] {
  if (!Array.isArray(data)) throw invalid(name, 'needs "data" (or binary_data_size)');
  const flat = data.flat(8) as unknown[];
  if (flat.length !== count) {
    throw invalid(name, `data holds ${flat.length} elements, the shape says ${count}`);
  }
  if (datatype === 'BYTES') {
    if (!flat.every((d) => typeof d === 'string')) throw invalid(name, 'BYTES data must be strings');
    return (flat as string[]).map((d) => Buffer.from(d, 'utf8'));
  }
  if (datatype === 'BOOL') {
    if (!flat.every((d) => typeof d === 'boolean')) throw invalid(name, 'BOOL data must be true or false');
    return flat as boolean[];
  }
  if (!flat.every((d) => typeof d === 'number' && Number.isFinite(d))) {
    throw invalid(name, `${datatype} data must be numbers`);
  }
  return flat as number[];
}
