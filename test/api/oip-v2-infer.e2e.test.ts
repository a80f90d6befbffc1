import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeResponse } from '../../src/runtime/kserve-v2.js';
import { type ServeProcess, startServe } from '../fixtures/cli-process.js';
import { blankImage, renderText } from '../fixtures/render-text.js';

// `POST /v2/models/{m}/infer` against a real `inferq serve` and the bundled models: JSON and
// binary-data requests and responses, answered on the fast path; the refusals a Triton or
// KServe client can meet.
let serve: ServeProcess;
let base: string;
let auth: Record<string, string>;
let line: Buffer;

beforeAll(async () => {
  serve = await startServe('server:\n  bodyLimitBytes: 1048576\n');
  ({ base, auth } = serve);
  line = await renderText([{ text: 'Hello inferq 42', x: 8, y: 34, size: 26 }], { width: 320, height: 48 });
}, 90_000);

afterAll(async () => {
  await serve?.stop();
});

/** A binary-data request: the JSON header, then each input's bytes (BYTES: length-prefixed). */
function binaryBody(
  header: object,
  ...elements: Buffer[]
): { body: Buffer; headers: Record<string, string> } {
  const json = Buffer.from(JSON.stringify(header));
  const parts = elements.flatMap((e) => {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(e.byteLength);
    return [prefix, e];
  });
  return {
    body: Buffer.concat([json, ...parts]),
    headers: { 'inference-header-content-length': String(json.byteLength) },
  };
}

function imageRequest(image: Buffer, parameters: Record<string, unknown> = {}) {
  return binaryBody(
    {
      inputs: [
        {
          name: 'IMAGE',
          datatype: 'BYTES',
          shape: [1],
          parameters: { binary_data_size: 4 + image.byteLength },
        },
      ],
      ...parameters,
    },
    image,
  );
}

async function infer(model: string, body: Buffer | string, headers: Record<string, string> = {}) {
  return fetch(`${base}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { ...auth, ...headers },
    body,
  });
}

/** The durable predict of the same bytes: what the v2 answer must equal. */
async function durablePredict(model: string, bytes: Buffer): Promise<Record<string, unknown>> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), 'line.png');
  const response = await fetch(`${base}/v1/models/${model}/predict`, {
    method: 'POST',
    headers: auth,
    body: form,
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { result: Record<string, unknown> }).result;
}

describe('POST /v2/models/{m}/infer', () => {
  it('runs echo from JSON tensors and answers JSON tensors', async () => {
    const response = await infer(
      'echo',
      JSON.stringify({
        id: 'r1',
        inputs: [{ name: 'INPUT', datatype: 'BYTES', shape: [1], data: ['hello'] }],
      }),
      { 'content-type': 'application/json' },
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      model_name: 'echo',
      model_version: '1.0.0',
      id: 'r1',
      outputs: [
        {
          name: 'sha256',
          datatype: 'BYTES',
          shape: [1],
          data: [createHash('sha256').update('hello').digest('hex')],
        },
        { name: 'bytes', datatype: 'INT64', shape: [1], data: [5] },
        { name: 'params', datatype: 'BYTES', shape: [1], data: ['{}'] },
      ],
    });
  });

  it("passes the request's parameters to the model as params, held to its params schema", async () => {
    const request = (parameters: Record<string, unknown>) =>
      infer(
        'echo',
        JSON.stringify({
          parameters,
          inputs: [{ name: 'INPUT', datatype: 'BYTES', shape: [1], data: ['hello'] }],
        }),
        { 'content-type': 'application/json' },
      );
    // echo's schema declares delayMs and takes other keys; binary_data_output is the protocol's.
    const response = await request({ delayMs: 1, note: 'mine', binary_data_output: false });
    expect(response.status).toBe(200);
    const { outputs } = (await response.json()) as { outputs: Array<{ name: string; data: string[] }> };
    const params = outputs.find((o) => o.name === 'params')?.data[0];
    expect(JSON.parse(params ?? 'null')).toEqual({ delayMs: 1, note: 'mine' });

    for (const delayMs of [-1, 'soon']) {
      const refused = await request({ delayMs });
      expect(refused.status).toBe(400);
      // The protocol's error shape: `error` is the message, inferq's code beside it.
      const body = (await refused.json()) as { error: string; code: string };
      expect(body.code).toBe('INFERQ_PARAMS_INVALID');
      expect(body.error).toContain('delayMs');
    }
  });

  it("reads parameters.resend as inferq's own (at most once across hosts), not a model param", async () => {
    const request = (resend: unknown) =>
      infer(
        'echo',
        JSON.stringify({
          parameters: { resend, note: 'mine' },
          inputs: [{ name: 'INPUT', datatype: 'BYTES', shape: [1], data: ['hello'] }],
        }),
        { 'content-type': 'application/json' },
      );
    const response = await request(false);
    expect(response.status).toBe(200);
    const { outputs } = (await response.json()) as { outputs: Array<{ name: string; data: string[] }> };
    expect(JSON.parse(outputs.find((o) => o.name === 'params')?.data[0] ?? 'null')).toEqual({ note: 'mine' });
    const refused = await request('no');
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      code: 'INFERQ_VALIDATION_FAILED',
      error: 'parameters.resend must be true or false',
    });
  });

  it('reads a binary image crop on ocr-rec and ocr-cls; answers as durable predict does, JSON or binary', async () => {
    for (const model of ['ocr-rec', 'ocr-cls']) {
      const expected = await durablePredict(model, line);
      const plain = imageRequest(line);
      const json = await infer(model, plain.body, plain.headers);
      expect(json.status).toBe(200);
      const outputs = ((await json.json()) as { outputs: Array<{ name: string; data: unknown[] }> }).outputs;
      const asJson = Object.fromEntries(outputs.map((o) => [o.name, o.data[0]]));

      const asked = imageRequest(line, { parameters: { binary_data_output: true } });
      const binary = await infer(model, asked.body, asked.headers);
      expect(binary.status).toBe(200);
      const length = binary.headers.get('inference-header-content-length');
      expect(length).not.toBeNull();
      const decoded = decodeResponse(Buffer.from(await binary.arrayBuffer()), Number(length));
      const asBinary = Object.fromEntries(decoded.outputs.map((o) => [o.name, o.data?.[0]]));

      const field = model === 'ocr-rec' ? 'text' : 'label';
      expect(asJson[field]).toBe(expected[field]);
      expect(asJson.confidence).toBeCloseTo(expected.confidence as number, 6);
      expect(asBinary[field]).toBe(expected[field]);
      // FP32 on the wire: equal to float precision.
      expect(asBinary.confidence).toBeCloseTo(expected.confidence as number, 6);
    }
    expect(String((await durablePredict('ocr-rec', line)).text).trim()).toBe('Hello inferq 42');
  }, 60_000);

  it('answers only the outputs asked for, binary where asked', async () => {
    const asked = binaryBody(
      {
        inputs: [
          {
            name: 'IMAGE',
            datatype: 'BYTES',
            shape: [1],
            parameters: { binary_data_size: 4 + line.byteLength },
          },
        ],
        outputs: [{ name: 'label', parameters: { binary_data: true } }],
      },
      line,
    );
    const response = await infer('ocr-cls/versions/2.0.0', asked.body, asked.headers);
    expect(response.status).toBe(200);
    const decoded = decodeResponse(
      Buffer.from(await response.arrayBuffer()),
      Number(response.headers.get('inference-header-content-length')),
    );
    expect(decoded.outputs.map((o) => o.name)).toEqual(['label']);
    expect(['0', '180']).toContain(decoded.outputs[0]!.data![0]);
  });

  it('refuses tensors of the wrong datatype, shape or byte length: 400 naming the input', async () => {
    const send = async (tensor: object) => {
      const response = await infer('echo', JSON.stringify({ inputs: [tensor] }));
      return {
        status: response.status,
        // The protocol's error shape: `error` is the message, inferq's code beside it.
        body: (await response.json()) as { error: string; code: string; details: { input: string } },
      };
    };
    for (const tensor of [
      { name: 'INPUT', datatype: 'FP32', shape: [1], data: [1] },
      { name: 'INPUT', datatype: 'BYTES', shape: [2], data: ['a', 'b'] },
      { name: 'INPUT', datatype: 'BYTES', shape: [1], data: ['a', 'b'] },
    ]) {
      const { status, body } = await send(tensor);
      expect(status).toBe(400);
      expect(body.code).toBe('INFERQ_OIP_TENSOR_INVALID');
      expect(body.details.input).toBe('INPUT');
      expect(body.error).toContain('"INPUT"');
    }
    // Binary data shorter than binary_data_size says.
    const short = imageRequest(line);
    const response = await infer(
      'ocr-cls',
      short.body.subarray(0, short.body.byteLength - 10),
      short.headers,
    );
    expect(response.status).toBe(400);
    expect(((await response.json()) as { details: { input: string } }).details.input).toBe('IMAGE');
  });

  it('holds images to the model limits: too many pixels 413, a corrupt body 422, not an image 415', async () => {
    const codeOf = async (image: Buffer) => {
      const request = imageRequest(image);
      const response = await infer('ocr-cls', request.body, request.headers);
      return [response.status, ((await response.json()) as { code: string }).code];
    };
    // ocr-cls takes up to 4,000,000 pixels.
    expect(await codeOf(await blankImage(2100, 2000))).toEqual([413, 'INFERQ_INPUT_TOO_LARGE']);
    expect(await codeOf(line.subarray(0, line.byteLength - 40))).toEqual([422, 'INFERQ_INPUT_UNDECODABLE']);
    expect(await codeOf(Buffer.from('plain text, not an image'))).toEqual([
      415,
      'INFERQ_MEDIA_TYPE_UNSUPPORTED',
    ]);
  }, 30_000);

  it('answers 404 for an unknown model or version, 413 for a body over the limit, 401 without a key', async () => {
    const body = JSON.stringify({ inputs: [{ name: 'INPUT', datatype: 'BYTES', shape: [1], data: ['x'] }] });
    const unknown = await infer('no-such-model', body);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      error: 'no model named no-such-model',
      code: 'INFERQ_MODEL_NOT_FOUND',
    });
    const version = await infer('echo/versions/9.9.9', body);
    expect(version.status).toBe(404);
    const big = Buffer.alloc(1_100_000, 1);
    const large = await infer(
      'echo',
      binaryBody(
        {
          inputs: [
            {
              name: 'INPUT',
              datatype: 'BYTES',
              shape: [1],
              parameters: { binary_data_size: big.byteLength + 4 },
            },
          ],
        },
        big,
      ).body,
    );
    expect(large.status).toBe(413);
    expect(((await large.json()) as { code: string }).code).toBe('INFERQ_INPUT_TOO_LARGE');
    const anonymous = await fetch(`${base}/v2/models/echo/infer`, { method: 'POST', body });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { code: string }).code).toBe('INFERQ_AUTH_REQUIRED');
  });
});
