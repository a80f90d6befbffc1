import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/runtime/create-runtime.js';
import { decodeResponse, encodeRequest } from '../../src/runtime/kserve-v2.js';
import { readModel } from '../../src/runtime/model-repository.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { rejection, runRuntimeContract } from '../contracts/runtime.contract.js';
import { tempModelsDir } from '../fixtures/temp-models.js';

/**
 * A tiny KServe v2 model server: `remote` hashes BYTES inputs (answering with the binary
 * extension), sums FP32 inputs, and misbehaves on request: "flaky" fails with 503 once,
 * "bad" is a 400, "slow" answers after 2 s.
 */
function startServer(): Promise<{
  server: Server;
  url: string;
  stats: { connections: number; requests: number };
}> {
  const stats = { connections: 0, requests: 0 };
  const flakySeen = new Set<string>();
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method === 'GET') {
      res.writeHead(req.url === '/v2/models/remote/ready' ? 200 : 503).end();
      return;
    }
    const headerLength = Number(req.headers['inference-header-content-length'] ?? body.byteLength);
    const header = JSON.parse(body.subarray(0, headerLength).toString()) as {
      id: string;
      parameters?: Record<string, unknown>;
      inputs: {
        name: string;
        datatype: string;
        data?: unknown[];
        parameters?: { binary_data_size?: number };
      }[];
    };
    const input = header.inputs[0]!;
    let payload: Buffer;
    if (input.parameters?.binary_data_size !== undefined) {
      const binary = body.subarray(headerLength);
      payload = binary.subarray(4, 4 + binary.readUInt32LE(0));
    } else if (input.datatype === 'BYTES') {
      payload = Buffer.from(String(input.data![0]), 'base64');
    } else {
      const sum = (input.data as number[]).reduce((a, b) => a + b, 0);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          model_name: 'remote',
          id: header.id,
          outputs: [{ name: 'sum', datatype: 'FP32', shape: [1], data: [sum] }],
        }),
      );
      return;
    }
    const text = payload.toString();
    if (text === 'bad') {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'bad input' }));
      return;
    }
    if (text.startsWith('flaky') && !flakySeen.has(text)) {
      flakySeen.add(text);
      res.writeHead(503).end('warming up');
      return;
    }
    if (text === 'slow') await new Promise((resolve) => setTimeout(resolve, 2000));
    const json = Buffer.from(
      JSON.stringify({
        model_name: 'remote',
        id: header.id,
        parameters: header.parameters ?? {},
        outputs: [
          {
            name: 'sha256',
            datatype: 'BYTES',
            shape: [1],
            data: [createHash('sha256').update(payload).digest('hex')],
          },
          { name: 'size', datatype: 'INT64', shape: [1], parameters: { binary_data_size: 8 } },
        ],
      }),
    );
    const size = Buffer.alloc(8);
    size.writeBigInt64LE(BigInt(payload.byteLength));
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(json.byteLength),
    });
    res.end(Buffer.concat([json, size]));
  });
  server.on('connection', () => stats.connections++);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stats }),
    ),
  );
}

const temp = tempModelsDir();
let server: Awaited<ReturnType<typeof startServer>>;

async function httpModel(name: string, options: string, extra = ''): Promise<Runtime> {
  const dir = temp.write(name, {
    'model.yaml': `name: ${name}\nversion: "1"\nruntime: http\ninput: { kind: file }\n${extra}\noptions:\n  url: ${server.url}\n${options}`,
  });
  return createRuntime(await readModel(dir));
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  server.server.closeAllConnections();
  await new Promise((resolve) => server.server.close(resolve));
  temp.cleanup();
});

/** Three attempts of 250 ms each; the server answers "slow" after 2 s. */
const contractRemote = () =>
  httpModel('contract-remote', '  model: remote\n  retries: 2\n  retryBackoffMs: 10\n', 'timeoutMs: 250');

runRuntimeContract('HttpRuntime', {
  create: contractRemote,
  good: async () => ({ bytes: Buffer.from('fine') }),
  slow: async () => ({ batch: [{ bytes: Buffer.from('slow') }] }),
  cancelAfterMs: 20,
  // A 400 is the input's fault: one attempt, not retried.
  badItem: async () => ({
    runtime: await contractRemote(),
    good: { bytes: Buffer.from('fine') },
    bad: { bytes: Buffer.from('bad') },
    error: {
      code: 'INFERQ_REMOTE_MODEL_FAILED',
      message: expect.stringContaining('bad input'),
      details: { httpStatus: 400, attempts: 1 },
    },
  }),
  timed: async () => ({
    runtime: await contractRemote(),
    work: { batch: [{ bytes: Buffer.from('slow') }] },
    endsAs: 'item failure',
    details: { attempts: 3 },
  }),
});

describe('HttpRuntime (KServe v2)', () => {
  let remote: Runtime;
  beforeAll(async () => {
    remote = await httpModel(
      'remote-model',
      '  model: remote\n  retries: 2\n  retryBackoffMs: 10\n',
      'timeoutMs: 250',
    );
    await remote.load();
  });
  afterAll(() => remote.unload());

  it('sends bytes with the binary extension and decodes binary outputs', async () => {
    const bytes = new TextEncoder().encode('hello remote');
    const [result] = await remote.predict([{ bytes }], { lang: 'en' });
    expect(result).toEqual({
      ok: true,
      output: {
        model_name: 'remote',
        id: expect.stringMatching(/^remote-model@1-\d+$/),
        parameters: { lang: 'en' },
        outputs: [
          {
            name: 'sha256',
            datatype: 'BYTES',
            shape: [1],
            data: [createHash('sha256').update(bytes).digest('hex')],
          },
          { name: 'size', datatype: 'INT64', shape: [1], data: [12] },
        ],
      },
    });
  });

  it('passes v2 tensors given as a value straight through', async () => {
    const [result] = await remote.predict([
      { value: { inputs: [{ name: 'x', datatype: 'FP32', shape: [3], data: [1, 2, 3.5] }] } },
    ]);
    expect(result).toMatchObject({ ok: true, output: { outputs: [{ name: 'sum', data: [6.5] }] } });
  });

  it('retries a 503 and succeeds', async () => {
    const [result] = await remote.predict([{ bytes: Buffer.from('flaky-1') }]);
    expect(result).toMatchObject({
      ok: true,
      output: { outputs: [{ name: 'sha256' }, { name: 'size', data: [7] }] },
    });
  });

  it('reuses kept-alive connections', async () => {
    const before = server.stats.connections;
    for (let i = 0; i < 5; i++) await remote.predict([{ bytes: Buffer.from(`sequential ${i}`) }]);
    expect(server.stats.connections - before).toBeLessThanOrEqual(1);
  });

  it('can send bytes as base64 JSON for servers without the binary extension', async () => {
    const plain = await httpModel('remote-json', '  model: remote\n  binaryData: false\n');
    await plain.load();
    const [result] = await plain.predict([{ bytes: Buffer.from('json please') }]);
    expect(result).toMatchObject({
      ok: true,
      output: { outputs: [{ name: 'sha256' }, { name: 'size', data: [11] }] },
    });
    await plain.unload();
  });
});

describe('HttpRuntime load', () => {
  it('checks that the remote model is ready', async () => {
    const down = await httpModel('down', '  retries: 0\n');
    const err = await rejection(down.load());
    expect(err.code).toBe('INFERQ_MODEL_LOAD_FAILED');
    expect(err.details).toMatchObject({ httpStatus: 503 });
  });

  it('refuses a model.yaml whose url is not http(s)', async () => {
    const dir = temp.write('badurl', {
      'model.yaml':
        'name: badurl\nversion: "1"\nruntime: http\ninput: { kind: file }\noptions: { url: "ftp://x" }\n',
    });
    const model = await readModel(dir);
    let err: unknown;
    try {
      createRuntime(model);
    } catch (caught) {
      err = caught;
    }
    expect(err).toMatchObject({ code: 'INFERQ_MODEL_SPEC_INVALID', details: { key: 'options.url' } });
  });
});

describe('kserve-v2 wire format', () => {
  it('encodes decoded pixels as a UINT8 [h, w, c] tensor and round-trips binary outputs', () => {
    const request = encodeRequest(
      { image: { data: new Uint8Array(12), width: 2, height: 2, channels: 3 } },
      {},
      'id-1',
      { inputName: 'image', binaryData: true },
    );
    const headerLength = Number(request.headers['inference-header-content-length']);
    expect(JSON.parse(request.body.subarray(0, headerLength).toString())).toEqual({
      id: 'id-1',
      inputs: [{ name: 'image', shape: [2, 2, 3], datatype: 'UINT8', parameters: { binary_data_size: 12 } }],
    });
    expect(request.body.byteLength).toBe(headerLength + 12);

    const json = Buffer.from(
      JSON.stringify({
        outputs: [
          { name: 'p', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
          { name: 'ok', datatype: 'BOOL', shape: [1], parameters: { binary_data_size: 1 } },
        ],
      }),
    );
    const floats = Buffer.alloc(8);
    floats.writeFloatLE(0.5, 0);
    floats.writeFloatLE(-2, 4);
    const response = decodeResponse(Buffer.concat([json, floats, Buffer.from([1])]), json.byteLength);
    expect(response.outputs).toEqual([
      { name: 'p', datatype: 'FP32', shape: [2], data: [0.5, -2] },
      { name: 'ok', datatype: 'BOOL', shape: [1], data: [true] },
    ]);
  });
});
