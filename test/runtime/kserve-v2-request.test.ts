import { describe, expect, it } from 'vitest';
import { type InferqError, isInferqError } from '../../src/errors/index.js';
import { encodeRequest } from '../../src/runtime/kserve-v2.js';
import { decodeInferRequest } from '../../src/runtime/kserve-v2-request.js';

const image = [{ name: 'IMAGE', datatype: 'BYTES', shape: [1] }];
const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe]); // not valid UTF-8: must stay bytes

function refusal(run: () => unknown): InferqError {
  try {
    run();
  } catch (err) {
    if (isInferqError(err)) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

const json = (header: object) => Buffer.from(JSON.stringify(header));

describe('decodeInferRequest', () => {
  it('reads what the http runtime sends, binary and JSON, keeping BYTES elements as raw bytes', () => {
    for (const binaryData of [true, false]) {
      const sent = encodeRequest({ bytes: png }, { k: 1 }, 'r1', { inputName: 'IMAGE', binaryData });
      const length = sent.headers['inference-header-content-length'];
      const decoded = decodeInferRequest(sent.body, length === undefined ? undefined : Number(length), image);
      expect(decoded.id).toBe('r1');
      expect(decoded.parameters).toEqual({ k: 1 });
      expect(decoded.inputs).toHaveLength(1);
      expect(decoded.inputs[0]!.shape).toEqual([1]);
      // The JSON form carries base64 text (the client's choice), the binary form the bytes.
      const element = decoded.inputs[0]!.data[0] as Buffer;
      expect(binaryData ? element.equals(png) : element.toString() === png.toString('base64')).toBe(true);
    }
  });

  it('takes -1 dimensions of any size and numeric JSON data', () => {
    const signature = [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }];
    const decoded = decodeInferRequest(
      json({
        inputs: [
          {
            name: 'x',
            datatype: 'FP32',
            shape: [2, 2],
            data: [
              [1, 2],
              [3, 4],
            ],
          },
        ],
      }),
      undefined,
      signature,
    );
    expect(decoded.inputs[0]!.data).toEqual([1, 2, 3, 4]);
    const floats = Buffer.alloc(16);
    for (const [i, v] of [1.5, 2, 3, 4].entries()) floats.writeFloatLE(v, i * 4);
    const header = json({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } }],
    });
    const binary = decodeInferRequest(Buffer.concat([header, floats]), header.byteLength, signature);
    expect(binary.inputs[0]!.data).toEqual([1.5, 2, 3, 4]);
    // 12 bytes are three floats, not the four the shape says.
    const short = json({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 12 } }],
    });
    const err = refusal(() =>
      decodeInferRequest(Buffer.concat([short, floats.subarray(0, 12)]), short.byteLength, signature),
    );
    expect(err.message).toContain('binary data is 12 bytes, the shape says 16');
  });

  it('refuses a wrong datatype, shape, element count or byte length with a 400 naming the input', () => {
    const cases: Array<[Buffer, number | undefined, string]> = [
      [
        json({ inputs: [{ name: 'IMAGE', datatype: 'FP32', shape: [1], data: [1] }] }),
        undefined,
        'datatype FP32',
      ],
      [
        json({ inputs: [{ name: 'IMAGE', datatype: 'BYTES', shape: [2], data: ['a', 'b'] }] }),
        undefined,
        'shape [2]',
      ],
      [
        json({ inputs: [{ name: 'IMAGE', datatype: 'BYTES', shape: [1], data: ['a', 'b'] }] }),
        undefined,
        '2 elements',
      ],
      [
        json({ inputs: [{ name: 'OTHER', datatype: 'BYTES', shape: [1], data: ['a'] }] }),
        undefined,
        'no such input',
      ],
      [json({ inputs: [] }), undefined, 'missing'],
    ];
    // Binary data whose element length runs past binary_data_size.
    const header = json({
      inputs: [{ name: 'IMAGE', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } }],
    });
    const bad = Buffer.alloc(6);
    bad.writeUInt32LE(100);
    cases.push([Buffer.concat([header, bad]), header.byteLength, 'malformed']);
    cases.push([Buffer.concat([header, bad.subarray(0, 3)]), header.byteLength, 'runs past']);
    for (const [body, length, says] of cases) {
      const err = refusal(() => decodeInferRequest(body, length, image));
      expect(err.code, says).toBe('INFERQ_OIP_TENSOR_INVALID');
      expect(err.status).toBe(400);
      expect(err.message, says).toContain(says);
      expect(err.message).toMatch(/^input "(IMAGE|OTHER)"/);
    }
  });

  it('refuses a header that is not JSON, or a header length outside the body, as a malformed body', () => {
    expect(refusal(() => decodeInferRequest(Buffer.from('{nope'), undefined, image)).code).toBe(
      'INFERQ_BODY_MALFORMED',
    );
    expect(refusal(() => decodeInferRequest(json({ inputs: [] }), 999, image)).code).toBe(
      'INFERQ_BODY_MALFORMED',
    );
  });
});
