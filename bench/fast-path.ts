/**
 * bench/fast-path: the non-durable fast path of `inferq serve` (OIP infer, predict with
 * `durable: false`), side by side in one run with what it is measured against.
 *
 *   npx tsx bench/fast-path.ts [--clients 1,8,32] [--seconds 2] [--rounds 3] [--max-delay-ms N]
 *
 * Every figure is the median of `--rounds` rounds (`--stat best`: the best round of each, the
 * least disturbed on a machine shared with other work); within a round the compared targets run
 * in turn, so such work slows them alike.
 *
 * 1. Latency added over the raw model call, p50 / p99, for `echo` and `ocr-cls` at each client
 *    level: N closed-loop callers of the model's runtime loaded in this process
 *    (`runtime.predict`, one item a call: the raw model call), then N closed-loop HTTP clients of
 *    `POST /v2/models/{m}/infer` (binary-data request, JSON answer) on an embedded `inferq
 *    serve`. Added = fast path − raw at the same percentile (goal ≤ 0.3 ms p50, ≤ 2 ms p99). The
 *    fast path batches by the model's own rule, so ocr-cls's `maxDelayMs` window (10 ms as
 *    shipped) is part of what it adds at low load; `--max-delay-ms N` serves a copy of the
 *    bundled models with every window set to N. Beside them the floor at the same concurrency
 *    (below): what it adds over the raw call is what any server in another process pays on
 *    this machine at that load, and "fast − floor" what the fast path adds beyond it.
 * 2. Throughput at 1 client, per model: the fast path (OIP infer, and predict with durable:
 *    false) against today's durable predict on the same server (goal ≥ 3×), and against a
 *    minimal Fastify server that hands each body to the same runtime in one worker thread
 *    (bench/baselines/fastify-model-thread-service.ts; goal ≥ 0.9×). Durable inputs are unique
 *    (the result cache must not answer).
 *
 * One client process drives everything (undici Pool, one keep-alive connection per client).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { Pool } from 'undici';
import { bundledModelsDir, ModelRepository } from '../src/runtime/model-repository.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { loadRuntimes } from '../src/worker/load-runtimes.js';
import { median, percentile } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '1,8,32' },
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    stat: { type: 'string', default: 'median' },
    'max-delay-ms': { type: 'string' },
  },
});
const levels = args.clients.split(',').map(Number);
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const root = path.resolve(import.meta.dirname, '..');
const work = mkdtempSync(path.join(tmpdir(), 'inferq-bench-fast-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function start(command: string[], ready: RegExp): Promise<string> {
  const child = spawn(process.execPath, command, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (ready.test(output)) resolve(output);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited ${code}:\n${output}`)));
  });
}

/** A text-line crop like the OCR pipeline's (white, black text), distinct per `n`. */
async function crop(n: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="48"><rect width="100%" height="100%" fill="#fff"/><text x="8" y="34" font-family="DejaVu Sans" font-size="24">line ${n} of text</text></svg>`;
  return sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toBuffer();
}

// The models the server serves: the bundled ones, or a copy with every batching window replaced.
let modelsDir = bundledModelsDir;
if (args['max-delay-ms'] !== undefined) {
  modelsDir = path.join(work, 'models');
  cpSync(bundledModelsDir, modelsDir, { recursive: true });
  for (const name of readdirSync(modelsDir)) {
    const file = path.join(modelsDir, name, 'model.yaml');
    try {
      const yaml = readFileSync(file, 'utf8');
      writeFileSync(file, yaml.replace(/maxDelayMs: \d+/, `maxDelayMs: ${Number(args['max-delay-ms'])}`));
    } catch {
      // pipelines/ has no model.yaml
    }
  }
}
const configFile = path.join(work, 'inferq.yaml');
writeFileSync(
  configFile,
  `api:\n  rateLimitPerMinute: 100000000\nworkers:\n  fastQueueLimit: 100000\nmodels:\n  dir: ${JSON.stringify(modelsDir)}\n`,
);
const served = await start(
  [
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    "const m = await import('./src/cli/main.ts'); await m.main(['node', 'inferq', ...process.argv.slice(1)]);",
    'serve',
    '--config',
    configFile,
    '--port',
    '0',
    '--data-dir',
    path.join(work, 'data'),
    '--log-level',
    'warn',
  ],
  /Press Ctrl\+C/,
);
const inferqUrl = /API\s+(http:\/\/\S+)\/v1/.exec(served)![1]!;
const auth = { authorization: `Bearer ${/^\s+(iq_\S+)$/m.exec(served)![1]!}` };
const floorOut = await start(
  ['--import', 'tsx', 'bench/baselines/fastify-model-thread-service.ts'],
  /listening (\S+)/,
);
const floorUrl = /listening (\S+)/.exec(floorOut)![1]!;
const maxClients = Math.max(...levels);
const inferqPool = new Pool(inferqUrl, { connections: maxClients, pipelining: 1 });
const floorPool = new Pool(floorUrl, { connections: maxClients, pipelining: 1 });

async function post(pool: Pool, url: string, body: Buffer | string, headers: Record<string, string>) {
  const response = await pool.request({ path: url, method: 'POST', headers, body });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode} ${text}`);
  return text;
}

/** A binary-data OIP request of one BYTES element. */
function oipBody(input: string, bytes: Buffer): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: input,
          datatype: 'BYTES',
          shape: [1],
          parameters: { binary_data_size: 4 + bytes.byteLength },
        },
      ],
    }),
  );
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(bytes.byteLength);
  return {
    body: Buffer.concat([header, prefix, bytes]),
    headers: { ...auth, 'inference-header-content-length': String(header.byteLength) },
  };
}

interface Stats {
  rate: number;
  p50: number;
  p99: number;
}

/** N closed-loop callers of `call` for `seconds`; latencies in ms. */
async function closedLoop(clients: number, call: (n: number) => Promise<unknown>): Promise<Stats> {
  // A short warm-up, not counted.
  const warm = performance.now() + 300;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < warm) await call(0);
    }),
  );
  const latencies: number[] = [];
  let counter = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        await call(counter++);
        latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rate: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Each figure over rounds: the median, or (`--stat best`) the best round's. */
function medianStats(all: readonly Stats[]): Stats {
  if (args.stat === 'best') {
    return {
      rate: Math.max(...all.map((s) => s.rate)),
      p50: Math.min(...all.map((s) => s.p50)),
      p99: Math.min(...all.map((s) => s.p99)),
    };
  }
  return {
    rate: median(all.map((s) => s.rate)),
    p50: median(all.map((s) => s.p50)),
    p99: median(all.map((s) => s.p99)),
  };
}

const { runtimes } = await loadRuntimes(new ModelRepository(modelsDir), { only: ['echo', 'ocr-cls'] });
const runtime = (name: string): Runtime => runtimes.find((r) => r.model.spec.name === name)!;
const echoBytes = Buffer.from('a fast-path request of forty bytes .....');
const cropBytes = await crop(0);
const models = [
  { name: 'echo', input: 'INPUT', bytes: echoBytes },
  { name: 'ocr-cls', input: 'IMAGE', bytes: cropBytes },
];
const f = (ms: number) => ms.toFixed(2).padStart(8);

console.log(
  `bench/fast-path: ${seconds} s a measurement, ${args.stat === 'best' ? 'best' : 'median'} of ${rounds} rounds; models ${args['max-delay-ms'] === undefined ? 'as bundled (ocr-cls maxDelayMs 10, echo 0)' : `with maxDelayMs ${args['max-delay-ms']}`}`,
);
console.log('\n1. latency added over the raw model call (ms; goal p50 ≤ 0.3, p99 ≤ 2)');
console.log(
  'model    clients   raw p50  raw p99  fast p50 fast p99  added p50 added p99   floor added p50/p99   fast − floor p50/p99',
);
for (const model of models) {
  const oip = oipBody(model.input, model.bytes);
  for (const clients of levels) {
    const raws: Stats[] = [];
    const fasts: Stats[] = [];
    const floors: Stats[] = [];
    for (let round = 0; round < rounds; round++) {
      // The floor at the same concurrency: what any answer-now server in another process pays.
      floors.push(
        await closedLoop(clients, () =>
          post(floorPool, `/infer/${model.name}`, model.bytes, {
            'content-type': 'application/octet-stream',
          }),
        ),
      );
      raws.push(
        await closedLoop(clients, () =>
          runtime(model.name).predict([{ bytes: model.bytes }], {}, { keepInputs: true }),
        ),
      );
      fasts.push(
        await closedLoop(clients, () =>
          post(inferqPool, `/v2/models/${model.name}/infer`, oip.body, oip.headers),
        ),
      );
    }
    const raw = medianStats(raws);
    const fast = medianStats(fasts);
    const floor = medianStats(floors);
    console.log(
      `${model.name.padEnd(8)} ${String(clients).padStart(7)} ${f(raw.p50)} ${f(raw.p99)} ${f(fast.p50)} ${f(fast.p99)} ${f(fast.p50 - raw.p50)}  ${f(fast.p99 - raw.p99)}  ${f(floor.p50 - raw.p50)} ${f(floor.p99 - raw.p99)}  ${f(fast.p50 - floor.p50)} ${f(fast.p99 - floor.p99)}`,
    );
  }
}

// Unique inputs for the durable predict: its result cache must not answer.
const uniqueCrops = await Promise.all(Array.from({ length: 1500 }, (_, i) => crop(i + 1)));
let uniqueNext = 0;
console.log('\n2. throughput at 1 client (requests/s)');
console.log(
  'model    fast OIP  fast predict  durable predict  floor (Fastify + thread)  fast/durable  fast/floor',
);
for (const model of models) {
  const oip = oipBody(model.input, model.bytes);
  const jsonHeaders = { ...auth, 'content-type': 'application/json' };
  const payload = (n: number) =>
    model.name === 'echo'
      ? { text: `durable request ${n} ${Math.random()}` }
      : { data: uniqueCrops[n % uniqueCrops.length]!.toString('base64') };
  const targets: Array<[string, (n: number) => Promise<unknown>]> = [
    ['oip', () => post(inferqPool, `/v2/models/${model.name}/infer`, oip.body, oip.headers)],
    [
      'predict',
      (n) =>
        post(
          inferqPool,
          `/v1/models/${model.name}/predict`,
          JSON.stringify({ ...payload(n), durable: false }),
          jsonHeaders,
        ),
    ],
    [
      'durable',
      () =>
        post(
          inferqPool,
          `/v1/models/${model.name}/predict`,
          JSON.stringify(payload(uniqueNext++)),
          jsonHeaders,
        ),
    ],
    [
      'floor',
      () =>
        post(floorPool, `/infer/${model.name}`, model.bytes, { 'content-type': 'application/octet-stream' }),
    ],
  ];
  const runs = new Map<string, Stats[]>(targets.map(([name]) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    // Each round starts at another target: what one leaves behind (a durable task's writes)
    // does not always land on the same next one.
    for (let k = 0; k < targets.length; k++) {
      const [name, call] = targets[(round + k) % targets.length]!;
      runs.get(name)!.push(await closedLoop(1, call));
    }
  }
  const [fastOip, fastPredict, durable, floor] = targets.map(([name]) => medianStats(runs.get(name)!)) as [
    Stats,
    Stats,
    Stats,
    Stats,
  ];
  console.log(
    `${model.name.padEnd(8)} ${fastOip.rate.toFixed(0).padStart(8)} ${fastPredict.rate.toFixed(0).padStart(13)} ${durable.rate.toFixed(0).padStart(16)} ${floor.rate.toFixed(0).padStart(25)} ${(fastOip.rate / durable.rate).toFixed(2).padStart(12)}× ${(fastOip.rate / floor.rate).toFixed(2).padStart(10)}×`,
  );
}
console.log('\nfast = OIP infer (binary request); goals: fast/durable ≥ 3×, fast/floor ≥ 0.9×');
await Promise.all(runtimes.map((r) => r.unload()));
await inferqPool.close();
await floorPool.close();
process.exit(0);
