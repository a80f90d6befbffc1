/**
 * The fast path across processes over ZeroMQ (issue 22): latency it adds over the raw model
 * call, p50 and p99, for `echo` and `ocr-cls` at 1, 8 and 32 clients. The raw call (the same
 * runtime, the same input, in this process) and the remote call (RealtimeClient → a worker
 * process's RealtimeServer → that runtime) are measured side by side in one run; added = remote
 * percentile − raw percentile. The worker serves as `inferq worker --realtime` does (fast lanes,
 * batched per model.yaml), so at 8 and 32 clients the remote side batches where the raw loop
 * calls one input at a time. Goals: ≤ 1 ms at p50, ≤ 5 ms at p99.
 *
 * Beside them, the floor at the same concurrency: a minimal Fastify server that hands each body
 * to the same runtime in one worker thread (bench/baselines/fastify-model-thread-service.ts, one
 * model call per request, no batching), driven over keep-alive HTTP. What the floor adds over
 * the raw call is what any answer-now server in another thread or process pays on this machine
 * at that load (a second event loop, a thread hop, the contention of N callers for the cores);
 * "zmq − floor" is what this design adds beyond it. Last, the CPU each call costs, both processes
 * together (this one's, and the worker's or the floor's from /proc on Linux): the raw call's, and
 * what the floor and the ZeroMQ path add to it. On a machine whose cores the model already fills
 * (ocr-cls from 8 clients on 2 cores) latency is about clients × CPU per call ÷ cores, so every
 * µs a path adds per call comes back multiplied there; and CPU per call, unlike wall-clock
 * percentiles, holds up when other work shares the cores.
 *
 *   npx tsx bench/realtime-zeromq.ts [--calls 2000] [--json]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { RealtimeClient } from '../src/queue/zeromq/realtime-client.js';
import { bundledModelsDir, ModelRepository } from '../src/runtime/model-repository.js';
import type { ModelInput, Runtime } from '../src/runtime/runtime.js';
import { loadRuntimes } from '../src/worker/load-runtimes.js';
import { renderText } from '../test/fixtures/render-text.js';
import { percentile } from './lib/stats.js';

const { values: args } = parseArgs({
  options: { calls: { type: 'string', default: '2000' }, json: { type: 'boolean', default: false } },
});
const calls = Number(args.calls);
const models = ['echo', 'ocr-cls'];
const clientCounts = [1, 8, 32];

const worker = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    path.join(import.meta.dirname, 'lib/realtime-worker.ts'),
    'tcp://127.0.0.1:0',
    ...models,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const endpoint = await new Promise<string>((resolve, reject) => {
  worker.once('exit', (code) => reject(new Error(`the worker exited (${code})`)));
  worker.stdout!.on('data', (chunk: Buffer) => {
    const line = chunk
      .toString()
      .split('\n')
      .find((l) => l.startsWith('ready '));
    if (line) resolve(line.slice('ready '.length));
  });
});
const client = new RealtimeClient();
client.sync([{ id: 'bench', endpoint }]);
while (client.workersOf('ocr-cls').length === 0) await new Promise((r) => setTimeout(r, 20));

// The floor: started here, reached over HTTP with one keep-alive connection per client.
const floor = spawn(
  process.execPath,
  ['--import', 'tsx', path.join(import.meta.dirname, 'baselines/fastify-model-thread-service.ts')],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const floorUrl = await new Promise<string>((resolve, reject) => {
  floor.once('exit', (code) => reject(new Error(`the floor service exited (${code})`)));
  floor.stdout!.on('data', (chunk: Buffer) => {
    const match = /listening (\S+)/.exec(chunk.toString());
    if (match) resolve(match[1]!);
  });
});
const floorPool = new Pool(floorUrl, { connections: Math.max(...clientCounts), pipelining: 1 });

const { runtimes } = await loadRuntimes(new ModelRepository(bundledModelsDir), { only: models });
for (const runtime of runtimes) await runtime.load();
const crop = await renderText([{ text: 'FIRE EXIT', x: 8, y: 36, size: 32 }], { width: 192, height: 48 });
const input = (model: string): ModelInput => ({
  bytes: model === 'echo' ? Buffer.from('hello') : Buffer.from(crop),
  mediaType: model === 'echo' ? 'text/plain' : 'image/png',
});

/**
 * CPU time (µs) a process has used, user + system, from /proc (Linux; NaN elsewhere): the other
 * process's side of a call. CPU per call holds up where wall-clock latency does not, on a
 * machine whose cores other work shares.
 */
function cpuOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicks;
  } catch {
    return Number.NaN;
  }
}
const clockTicks = 100; // USER_HZ: /proc's clock ticks a second on Linux
const ownCpu = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
/** CPU per call (µs) of the last {@link measure}: this process, and the server process given. */
let cpuPerCall = { here: 0, there: 0 };

/** `calls` calls, `clients` at a time; each call's latency in ms, ascending. */
async function measure(clients: number, call: () => Promise<unknown>, server?: number): Promise<number[]> {
  const latencies: number[] = [];
  let left = calls;
  const [here, there] = [ownCpu(), cpuOf(server)];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (left-- > 0) {
        const started = performance.now();
        await call();
        latencies.push(performance.now() - started);
      }
    }),
  );
  cpuPerCall = {
    here: (ownCpu() - here) / calls,
    there: server === undefined ? 0 : (cpuOf(server) - there) / calls,
  };
  return latencies.sort((a, b) => a - b);
}

const rows: Array<Record<string, string | number>> = [];
for (const model of models) {
  const runtime = runtimes.find((r) => r.model.spec.name === model) as Runtime;
  const raw = async () => {
    const [result] = await runtime.predict([input(model)], {});
    if (!result?.ok) throw new Error(`${model} failed`);
  };
  const ref = `${runtime.model.spec.name}@${runtime.model.spec.version}`;
  const remote = async () => {
    const result = (await client.call(ref, { input: input(model), params: {} })) as { ok: boolean };
    if (!result.ok) throw new Error(`${model} failed remotely`);
  };
  const body = input(model) as { bytes: Uint8Array };
  const viaFloor = async () => {
    const response = await floorPool.request({
      path: `/infer/${model}`,
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from(body.bytes),
    });
    const text = await response.body.text();
    if (response.statusCode !== 200 || text.includes('"error"')) throw new Error(`${model} floor: ${text}`);
  };
  await measure(4, raw); // warm all three
  await measure(4, viaFloor);
  await measure(4, remote);
  for (const clients of clientCounts) {
    const rawMs = await measure(clients, raw);
    const rawCpu = cpuPerCall.here;
    const floorMs = await measure(clients, viaFloor, floor.pid);
    const floorCpu = cpuPerCall.here + cpuPerCall.there;
    const remoteMs = await measure(clients, remote, worker.pid);
    const remoteCpu = cpuPerCall.here + cpuPerCall.there;
    const at = (sorted: number[], p: number) => percentile(sorted, p);
    const added = (sorted: number[], p: number) => at(sorted, p) - at(rawMs, p);
    rows.push({
      model,
      clients,
      'raw p50': at(rawMs, 50).toFixed(2),
      'raw p99': at(rawMs, 99).toFixed(2),
      'zmq p50': at(remoteMs, 50).toFixed(2),
      'zmq p99': at(remoteMs, 99).toFixed(2),
      'zmq added p50 (≤ 1)': added(remoteMs, 50).toFixed(2),
      'zmq added p99 (≤ 5)': added(remoteMs, 99).toFixed(2),
      'floor added p50': added(floorMs, 50).toFixed(2),
      'floor added p99': added(floorMs, 99).toFixed(2),
      'zmq − floor p50': (at(remoteMs, 50) - at(floorMs, 50)).toFixed(2),
      'zmq − floor p99': (at(remoteMs, 99) - at(floorMs, 99)).toFixed(2),
      'CPU µs/call raw': rawCpu.toFixed(0),
      'floor added': (floorCpu - rawCpu).toFixed(0),
      'zmq added': (remoteCpu - rawCpu).toFixed(0),
    });
  }
}
if (args.json) console.log(JSON.stringify(rows));
else {
  console.log(`bench/realtime-zeromq: ${calls} calls a measurement; latencies in ms`);
  console.table(rows);
}
await client.close();
for (const runtime of runtimes) await runtime.unload();
await floorPool.close();
worker.kill('SIGTERM');
floor.kill('SIGTERM');
