/**
 * The fast path across processes over ZeroMQ (issue 22): latency it adds over the raw model
 * call, p50 and p99, for `echo` and `ocr-cls` at 1, 8 and 32 clients. The raw call (the same
 * runtime, the same input, in this process) and the remote call (RealtimeClient → a worker
 * process's RealtimeServer → that runtime) are measured side by side in one run; added = remote
 * percentile − raw percentile. The worker serves as `inferq worker --realtime` does (fast lanes,
 * batched per model.yaml), so at 8 and 32 clients the remote side batches where the raw loop
 * calls one input at a time. Goals: ≤ 1 ms at p50, ≤ 5 ms at p99.
 *
 *   npx tsx bench/realtime-zeromq.ts [--calls 2000] [--json]
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
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

const { runtimes } = await loadRuntimes(new ModelRepository(bundledModelsDir), { only: models });
for (const runtime of runtimes) await runtime.load();
const crop = await renderText([{ text: 'FIRE EXIT', x: 8, y: 36, size: 32 }], { width: 192, height: 48 });
const input = (model: string): ModelInput => ({
  bytes: model === 'echo' ? Buffer.from('hello') : Buffer.from(crop),
  mediaType: model === 'echo' ? 'text/plain' : 'image/png',
});

/** `calls` calls, `clients` at a time; each call's latency in ms, ascending. */
async function measure(clients: number, call: () => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  let left = calls;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (left-- > 0) {
        const started = performance.now();
        await call();
        latencies.push(performance.now() - started);
      }
    }),
  );
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
  await measure(4, raw); // warm both
  await measure(4, remote);
  for (const clients of clientCounts) {
    const rawMs = await measure(clients, raw);
    const remoteMs = await measure(clients, remote);
    const at = (sorted: number[], p: number) => percentile(sorted, p);
    rows.push({
      model,
      clients,
      'raw p50 ms': at(rawMs, 50).toFixed(3),
      'raw p99 ms': at(rawMs, 99).toFixed(3),
      'zmq p50 ms': at(remoteMs, 50).toFixed(3),
      'zmq p99 ms': at(remoteMs, 99).toFixed(3),
      'added p50 ms (goal ≤ 1)': (at(remoteMs, 50) - at(rawMs, 50)).toFixed(3),
      'added p99 ms (goal ≤ 5)': (at(remoteMs, 99) - at(rawMs, 99)).toFixed(3),
    });
  }
}
if (args.json) console.log(JSON.stringify(rows));
else console.table(rows);
await client.close();
for (const runtime of runtimes) await runtime.unload();
worker.kill('SIGTERM');
