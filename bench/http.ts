/**
 * bench/http: closed-loop HTTP clients (default 32), each submitting a task to the no-op
 * `echo` model and fetching its result, against `inferq serve` (embedded, auth on, inputs
 * hashed and stored) and, in the same run with the same client, a minimal Fastify + BullMQ
 * service on a local Redis (bench/baselines/fastify-bullmq-service.ts). Prints tasks/s, p50/p99
 * latency and the servers' CPU time per task (user + system, every thread; the baseline's includes
 * redis-server; from /proc, so Linux only) for each, and the ratios.
 *
 *   npx tsx bench/http.ts [--clients 32[,96,...]] [--seconds 10] [--poll-ms 2] [--wait-ms 0]
 *       [--rounds 3] [--cpu-prof DIR] [--ceiling] [--floor] [--two-files]
 *
 * `--clients` takes a list: each level is measured in turn (both services, alternating rounds)
 * and a last table sets the levels side by side.
 *
 * Each level also prints the CPU arithmetic of the machine: the load client's own CPU time per
 * task (it shares the machine), the most tasks/s the cores could give at the measured CPU costs
 * (cores / (server + client CPU per task)), and the server CPU per task that a 3× lead over the
 * baseline's measured rate would need on these cores.
 *
 * `--wait-ms N` (N > 0): each result request asks the server to wait up to N ms for the task
 * (`?wait=N`: inferq's long polling; the baseline's `job.waitUntilFinished` on BullMQ
 * QueueEvents) instead of answering "not ready" at once; the client still re-polls after a 404.
 *
 * `--floor` adds three services to every round (bench/baselines/sqlite-floor-service.ts): the
 * least an embedded design meeting the issue's conditions could do per task (auth, the input
 * hashed and stored, group-committed SQLite writes), without a queue, with a lean queue and
 * worker thread, and with that lean queue writing inferq's own task layout (its schema and rows:
 * listing indexes, timeline, results). Their rates bound from above what inferq can reach on the
 * machine; the third, what its storage layout allows with no other work.
 *
 * `--two-files` adds, to every round, a second `inferq serve` in the layout from before the queue
 * moved into the task database: the queue in a file of its own (`--broker sqlite:…/queue.db`),
 * each job enqueued after its task's transaction, the outbox sweeper on.
 *
 * `--ceiling` also drives, once, a Fastify server that stores and queues nothing
 * (bench/baselines/noop-service.ts): what the client and HTTP alone allow on this machine.
 *
 * `--cpu-prof DIR` writes a V8 CPU profile of the inferq server to DIR (open it in Chrome
 * DevTools or speedscope) and skips the baseline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { findOnPath, startLocalRedis } from './lib/local-redis.js';
import { percentile } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '10' },
    'poll-ms': { type: 'string', default: '2' },
    'wait-ms': { type: 'string', default: '0' },
    'cpu-prof': { type: 'string' },
    rounds: { type: 'string', default: '3' },
    ceiling: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
    'two-files': { type: 'boolean', default: false },
  },
});
const clientLevels = args.clients.split(',').map(Number);
if (clientLevels.some((n) => !Number.isInteger(n) || n < 1)) {
  throw new Error(`--clients takes positive integers separated by commas, got "${args.clients}"`);
}
const maxClients = Math.max(...clientLevels);
const seconds = Number(args.seconds);
const pollMs = Number(args['poll-ms']);
const waitMs = Number(args['wait-ms']);
const waitQuery = waitMs > 0 ? `?wait=${waitMs}` : '';
const rounds = Number(args.rounds);
const cpuProfDir = args['cpu-prof'] === undefined ? undefined : path.resolve(args['cpu-prof']);
const root = path.resolve(import.meta.dirname, '..');
const work = mkdtempSync(path.join(tmpdir(), 'inferq-bench-http-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/**
 * CPU time (user + system, all threads) a process has used so far, in ms, from
 * /proc/<pid>/stat; undefined where there is no /proc (not Linux).
 */
function cpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/** Starts a process and resolves with its output once `ready` matches it. */
function start(command: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const child = spawn(process.execPath, command, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
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

interface Target {
  name: string;
  /** The server's processes, whose CPU time per task is reported. */
  pids: number[];
  submit(text: string): Promise<string>;
  result(id: string): Promise<boolean>;
}

interface Measured {
  rate: number;
  p50: number;
  p99: number;
  /** The server's CPU ms per task; undefined without /proc. */
  cpuPerTask: number | undefined;
  /** This process's (the load client's) CPU ms per task. */
  clientCpuPerTask: number;
}

async function load(target: Target, clients: number): Promise<Measured> {
  const latencies: number[] = [];
  const cpu = () => {
    const each = target.pids.map(cpuMs);
    return each.some((ms) => ms === undefined) ? undefined : each.reduce((a, b) => a! + b!, 0)!;
  };
  const cpuBefore = cpu();
  const clientBefore = process.cpuUsage();
  const deadline = performance.now() + seconds * 1000;
  let counter = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < deadline) {
        const started = performance.now();
        // Unique inputs: neither side may answer from a cache.
        const id = await target.submit(`client ${client} request ${counter++} ${Math.random()}`);
        while (!(await target.result(id))) await new Promise((r) => setTimeout(r, pollMs));
        latencies.push(performance.now() - started);
      }
    }),
  );
  const cpuAfter = cpu();
  const clientCpu = process.cpuUsage(clientBefore);
  latencies.sort((a, b) => a - b);
  return {
    rate: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpuPerTask:
      cpuBefore === undefined || cpuAfter === undefined
        ? undefined
        : (cpuAfter - cpuBefore) / latencies.length,
    clientCpuPerTask: (clientCpu.user + clientCpu.system) / 1000 / latencies.length,
  };
}

/**
 * The load client: undici's `Pool.request`, one keep-alive connection per client. (The
 * WHATWG `fetch` costs several times more CPU per request; with it, the client process was
 * the bottleneck on a 2-core machine and both services measured about the same.)
 */
function client(base: string): Pool {
  return new Pool(base, { connections: maxClients, pipelining: 1 });
}

async function call(
  pool: Pool,
  path: string,
  options: { body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  const response = await pool.request({
    path,
    method: options.body === undefined ? 'GET' : 'POST',
    headers: {
      ...options.headers,
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  if (response.statusCode === 404) {
    await response.body.dump();
    return { status: 404, body: undefined };
  }
  const body = (await response.body.json()) as Record<string, unknown>;
  if (response.statusCode >= 300) throw new Error(`${response.statusCode}: ${JSON.stringify(body)}`);
  return { status: response.statusCode, body };
}

// inferq serve, from source, embedded, auth on. The per-tenant rate limit is raised: the
// bench's single tenant is meant to saturate the server.
const configFile = path.join(work, 'inferq.yaml');
writeFileSync(configFile, 'api:\n  rateLimitPerMinute: 100000000\n');

/** Starts an `inferq serve` with its own data dir; `more`: extra serve flags. */
async function startServe(
  name: string,
  dataDir: string,
  more: string[] = [],
  profile = false,
): Promise<{ target: Target; key: string }> {
  const served = await start(
    [
      ...(profile && cpuProfDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : []),
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
      dataDir,
      '--log-level',
      'warn',
      ...more,
    ],
    /Press Ctrl\+C/,
  );
  const pid = children.at(-1)!.pid!;
  const url = /API\s+(http:\/\/\S+)\/v1/.exec(served)![1]!;
  const key = /^\s+(iq_\S+)$/m.exec(served)![1]!;
  const headers = { authorization: `Bearer ${key}` };
  const pool = client(url);
  return {
    key,
    target: {
      name,
      pids: [pid],
      async submit(text) {
        const { body } = await call(pool, '/v1/tasks', {
          headers,
          body: JSON.stringify({ target: 'echo', text }),
        });
        return (body!.tasks as Array<{ id: string }>)[0]!.id;
      },
      async result(id) {
        return (await call(pool, `/v1/tasks/${id}/result${waitQuery}`, { headers })).status === 200;
      },
    },
  };
}

const started = await startServe('inferq serve (embedded)', path.join(work, 'inferq'), [], true);
const inferq = started.target;
const key = started.key;
const auth = { authorization: `Bearer ${key}` };

const redisBinary = cpuProfDir === undefined ? findOnPath('redis-server') : undefined;
let baseline: Target | undefined;
if (cpuProfDir !== undefined) {
  console.log(`profiling the inferq server into ${cpuProfDir}; no baseline`);
} else if (redisBinary === undefined) {
  console.log(
    '\n!!! redis-server not found on PATH: NO Fastify + BullMQ baseline, inferq figures only !!!\n',
  );
} else {
  const redis = await startLocalRedis(redisBinary, path.join(work, 'redis'));
  const out = await start(
    ['--import', 'tsx', 'bench/baselines/fastify-bullmq-service.ts', String(redis.port)],
    /listening (\S+)/,
  );
  const service = children.at(-1)!;
  const url = /listening (\S+)/.exec(out)![1]!;
  const pool = client(url);
  baseline = {
    name: 'Fastify + BullMQ (Redis)',
    pids: [service.pid!, redis.pid],
    async submit(text) {
      const { body } = await call(pool, '/tasks', { body: JSON.stringify({ text }) });
      return String(body!.id);
    },
    async result(id) {
      return (await call(pool, `/tasks/${id}/result${waitQuery}`)).status === 200;
    },
  };
}

const floors: Target[] = [];
if (args.floor) {
  for (const [name, mode] of [
    ['floor: 1 write, no queue', []],
    ['floor: lean queue + worker', ['queue']],
    ["floor: inferq's task layout", ['layout']],
  ] as const) {
    const out = await start(
      ['--import', 'tsx', 'bench/baselines/sqlite-floor-service.ts', work, key, ...mode],
      /listening (\S+)/,
    );
    const service = children.at(-1)!;
    const pool = client(/listening (\S+)/.exec(out)![1]!);
    floors.push({
      name,
      pids: [service.pid!],
      async submit(text) {
        const { body } = await call(pool, '/tasks', { headers: auth, body: JSON.stringify({ text }) });
        return String(body!.id);
      },
      async result(id) {
        return (await call(pool, `/tasks/${id}/result`, { headers: auth })).status === 200;
      },
    });
  }
}

// --two-files: the embedded layout before issue 18, beside it in the same run: the queue in a
// file of its own (queue.db, an explicit broker.url), each task's job enqueued after its
// transaction, the outbox sweeper running.
if (args['two-files']) {
  const dataDir = path.join(work, 'inferq-two-files');
  const { target } = await startServe('inferq (two files: queue.db)', dataDir, [
    '--broker',
    `sqlite:${path.join(dataDir, 'queue.db')}`,
  ]);
  floors.unshift(target);
}

const cores = availableParallelism();
console.log(
  `bench/http: ${clientLevels.join(', ')} closed-loop clients × ${seconds} s, submit + ${waitMs > 0 ? `fetch result with server-side wait up to ${waitMs} ms (re-poll after ${pollMs} ms on 404)` : `poll result every ${pollMs} ms`}; ${cores} cores`,
);
type Row = Measured & { name: string };
const row = (r: Row) =>
  `${r.name.padEnd(31)} ${r.rate.toFixed(0).padStart(8)} ${r.p50.toFixed(1).padStart(9)} ${r.p99.toFixed(1).padStart(9)} ${(r.cpuPerTask === undefined ? 'n/a' : r.cpuPerTask.toFixed(3)).padStart(12)} ${r.clientCpuPerTask.toFixed(3).padStart(12)}`;
const ms = (value: number) => `${value.toFixed(3)} ms`;
const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
const targets = [inferq, ...(baseline ? [baseline] : []), ...floors];
const summary: string[] = [];
for (const clients of clientLevels) {
  for (const target of targets) await load(target, clients); // warm-up
  // Rounds alternate the targets, so a burst of noise on a shared machine hits both alike; the
  // ratios are per round, and the summary is their median.
  const measured: Row[][] = [];
  console.log(
    `\n${clients} clients\nround target                          tasks/s    p50 ms    p99 ms  CPU ms/task   client CPU`,
  );
  for (let round = 1; round <= rounds; round++) {
    const results: Row[] = [];
    for (const target of targets) results.push({ name: target.name, ...(await load(target, clients)) });
    for (const r of results) console.log(`${String(round).padStart(5)} ${row(r)}`);
    measured.push(results);
  }
  const ours = measured.map((r) => r[0]!);
  if (baseline === undefined) {
    summary.push(
      `${String(clients).padStart(7)} ${median(ours.map((r) => r.rate))
        .toFixed(0)
        .padStart(8)}`,
    );
    continue;
  }
  const theirs = measured.map((r) => r[1]!);
  for (const [index, target] of floors.entries()) {
    if (baseline === undefined) break;
    const rates = measured.map((r) => r[2 + index]!.rate / r[1]!.rate);
    const p99s = measured.map((r) => r[2 + index]!.p99 / r[1]!.p99);
    console.log(
      `${target.name} / baseline, median of ${rounds} rounds: throughput ${median(rates).toFixed(2)}× (${rates.map((r) => `${r.toFixed(2)}×`).join(', ')}), p99 ${median(p99s).toFixed(2)}×`,
    );
  }
  const rate = measured.map(([a, b]) => a!.rate / b!.rate);
  const p99 = measured.map(([a, b]) => a!.p99 / b!.p99);
  const each = rate.map((r) => `${r.toFixed(2)}×`).join(', ');
  console.log(
    `inferq / baseline, median of ${rounds} rounds: throughput ${median(rate).toFixed(2)}× (${each}), p99 ${median(p99).toFixed(2)}× (target ≥ 3× throughput, lower p99)`,
  );
  const cells = [
    String(clients).padStart(7),
    median(ours.map((r) => r.rate))
      .toFixed(0)
      .padStart(8),
    median(theirs.map((r) => r.rate))
      .toFixed(0)
      .padStart(9),
    `${median(rate).toFixed(2)}×`.padStart(7),
    `${median(p99).toFixed(2)}×`.padStart(7),
  ];
  summary.push(cells.join(' '));
  const serverCpu = ours.map((r) => r.cpuPerTask);
  const theirCpu = theirs.map((r) => r.cpuPerTask);
  if (serverCpu.every((c) => c !== undefined) && theirCpu.every((c) => c !== undefined)) {
    const cpuRatio = measured.map(([a, b]) => a!.cpuPerTask! / b!.cpuPerTask!);
    const server = median(serverCpu as number[]);
    const client = median(ours.map((r) => r.clientCpuPerTask));
    const target = 3 * median(theirs.map((r) => r.rate));
    // What the cores allow: every task costs the server's CPU and the client's, on `cores` cores.
    const bound = (cores * 1000) / (server + client);
    const needed = (cores * 1000) / target - client;
    console.log(
      `server CPU per task (user + system, all threads; the baseline's includes redis-server), inferq / baseline: ${median(cpuRatio).toFixed(2)}×\n` +
        `CPU bound on ${cores} cores at inferq's ${ms(server)} + the client's ${ms(client)} per task: ${bound.toFixed(0)} tasks/s; ` +
        `3× the baseline (${target.toFixed(0)} tasks/s) needs the server at ≤ ${ms(needed)} per task with all cores busy`,
    );
  }
}
if (clientLevels.length > 1) {
  console.log(
    baseline === undefined
      ? '\nclients  tasks/s'
      : '\nclients   inferq  baseline   ratio     p99   (tasks/s, medians; ratios inferq / baseline)',
  );
  for (const line of summary) console.log(line);
}
if (args.ceiling) {
  const out = await start(['--import', 'tsx', 'bench/baselines/noop-service.ts'], /listening (\S+)/);
  const pool = client(/listening (\S+)/.exec(out)![1]!);
  const noop: Target = {
    name: 'ceiling: Fastify, no work',
    pids: [children.at(-1)!.pid!],
    async submit(text) {
      return String((await call(pool, '/tasks', { body: JSON.stringify({ text }) })).body!.id);
    },
    async result(id) {
      return (await call(pool, `/tasks/${id}/result`)).status === 200;
    },
  };
  await load(noop, clientLevels[0]!); // warm-up
  console.log(`\n${'-'.padStart(5)} ${row({ name: noop.name, ...(await load(noop, clientLevels[0]!)) })}`);
}
if (cpuProfDir !== undefined) {
  // The profile is written when the server exits on its own (graceful shutdown on SIGINT).
  const server = children[0]!;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGINT');
  await exited;
}
process.exit(0);
