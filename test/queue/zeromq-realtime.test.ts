import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InferqError } from '../../src/errors/inferq-error.js';
import { RealtimeClient } from '../../src/queue/zeromq/realtime-client.js';
import { RealtimeServer } from '../../src/queue/zeromq/realtime-server.js';
import { decodeValue, encodeValue } from '../../src/queue/zeromq/zmq-frames.js';
import { eventually } from '../fixtures/eventually.js';

const fixture = path.join(import.meta.dirname, '../fixtures/realtime-worker.ts');

/** A worker process of test/fixtures/realtime-worker.ts; `lines` is what it printed. */
interface WorkerProcess {
  child: ChildProcess;
  endpoint: string;
  lines: string[];
}

const started: WorkerProcess[] = [];
const clients: RealtimeClient[] = [];
const servers: RealtimeServer[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const w of started.splice(0)) w.child.kill('SIGKILL');
});

async function startWorker(endpoint: string, name: string): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, endpoint, name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const bound = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code}) before it was ready`)));
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (line.startsWith('ready ')) resolve(line.slice('ready '.length));
      }
    });
  });
  const worker = { child, endpoint: await bound, lines };
  started.push(worker);
  return worker;
}

/** How long these tests wait for a heartbeat, a call or a cancel to get through. */
const within = { timeoutMs: 10_000, intervalMs: 20 };

function newClient(): RealtimeClient {
  const client = new RealtimeClient({ heartbeatMs: 200, deadAfterMs: 2_000 });
  clients.push(client);
  return client;
}

async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    return err instanceof InferqError ? err.code : `not an InferqError: ${err}`;
  }
  return 'resolved';
}

describe('ZeroMQ frames', () => {
  it('carries buffers as their own frames, at any depth, and keeps objects that look like references', () => {
    const image = Buffer.from([0, 1, 2, 255]);
    const value = { model: 'm', body: { inputs: [{ data: image }, { data: new Uint8Array([9]) }], n: 1 } };
    const { json, buffers } = encodeValue(value);
    expect(buffers).toHaveLength(2);
    expect(json).not.toContain('255'); // the bytes are not in the JSON
    const back = decodeValue(json, buffers) as typeof value;
    expect(back.body.inputs[0]!.data).toEqual(image);
    expect(Buffer.isBuffer(back.body.inputs[1]!.data)).toBe(true);
    const lookalike = { '\u0000bin': 0, other: true };
    expect(decodeValue(encodeValue(lookalike).json, [])).toEqual(lookalike);
  });
});

describe('ZeroMQ fast path to remote workers (ROUTER/DEALER)', () => {
  it('answers a call with its bytes, carries coded errors back, and cancels on abort', async () => {
    let cancelled = false;
    const server = await RealtimeServer.bind({
      bind: 'tcp://127.0.0.1:0',
      models: () => ['slow@1'],
      async handle({ body, signal }) {
        const { image, fail, hang } = body as { image?: Buffer; fail?: boolean; hang?: boolean };
        if (fail) throw new InferqError('INFERQ_INPUT_UNDECODABLE', 'not an image');
        if (hang) {
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
          cancelled = true;
          return null;
        }
        return { size: image?.length, first: image?.[0], echo: image };
      },
    });
    servers.push(server);
    const client = newClient();
    expect(await codeOf(client.call('slow', {}))).toBe('INFERQ_FAST_PATH_UNAVAILABLE');
    client.sync([{ id: 'w1', endpoint: server.endpoint }]);
    await eventually(
      () => expect(client.workersOf('slow'), 'the worker to answer its heartbeat').toHaveLength(1),
      within,
    );
    expect(client.workersOf('slow@1')).toEqual(['w1']);
    expect(client.workersOf('slow@2')).toEqual([]);

    const image = Buffer.alloc(100_000, 7);
    expect(await client.call('slow', { image })).toEqual({ size: 100_000, first: 7, echo: image });
    expect(await codeOf(client.call('slow@1', { fail: true }))).toBe('INFERQ_INPUT_UNDECODABLE');
    expect(await codeOf(client.call('other', {}))).toBe('INFERQ_FAST_PATH_UNAVAILABLE');

    const abort = new AbortController();
    const hanging = client.call('slow', { hang: true }, { signal: abort.signal });
    await eventually(() => expect(server.inFlight, 'the call to reach the worker').toBe(1), within);
    abort.abort();
    expect(await codeOf(hanging)).toBe('INFERQ_CANCELLED');
    await eventually(
      () => expect([cancelled, server.inFlight], 'the worker to see the cancel').toEqual([true, 0]),
      within,
    );
  });

  it('a worker SIGKILLed mid-call: the call is answered by another worker, or fails fast when at most once', async () => {
    const workers = await Promise.all(['a', 'b', 'c'].map((name) => startWorker('tcp://127.0.0.1:0', name)));
    const client = newClient();
    client.sync(workers.map((w, i) => ({ id: 'abc'[i]!, endpoint: w.endpoint })));
    await eventually(
      () => expect(client.workersOf('slow'), 'the three workers to be alive').toHaveLength(3),
      within,
    );
    const runner = (tag: string) => workers.find((w) => w.lines.includes(`start ${tag}`));

    // Two long calls, on two workers (fewest in flight first); the third worker is idle.
    const resent = client.call('slow', { ms: 1_000, tag: 'resend-me' });
    const once = client.call('slow', { ms: 15_000, tag: 'at-most-once' }, { resend: false });
    await eventually(() => {
      expect(runner('resend-me'), 'resend-me to start').toBeDefined();
      expect(runner('at-most-once'), 'at-most-once to start').toBeDefined();
    }, within);
    const [first, second] = [runner('resend-me')!, runner('at-most-once')!];
    expect(first).not.toBe(second);

    first.child.kill('SIGKILL');
    const answer = (await resent) as { by: string; tag: string };
    expect(answer.tag).toBe('resend-me');
    expect(answer.by).not.toBe(first.lines[0]); // answered by a live worker
    expect(workers.filter((w) => w.lines.includes('start resend-me'))).toHaveLength(2);

    const died = Date.now();
    second.child.kill('SIGKILL');
    expect(await codeOf(once)).toBe('INFERQ_FAST_PATH_WORKER_LOST');
    // Failed within the heartbeat's loss window, and never sent to the worker still alive.
    expect(Date.now() - died).toBeLessThan(5_000);
    expect(workers.filter((w) => w.lines.includes('start at-most-once'))).toEqual([second]);

    const alive = workers.find((w) => w !== first && w !== second)!;
    expect(client.workersOf('slow')).toEqual(['abc'[workers.indexOf(alive)]]);
    // The client lives on: new calls go to the worker left.
    expect(await client.call('slow', { tag: 'after' })).toMatchObject({ tag: 'after' });
    expect(alive.lines).toContain('start after');
  });

  it('a worker that restarts on the same endpoint is reconnected and serves again', async () => {
    const first = await startWorker('tcp://127.0.0.1:0', 'first');
    const client = newClient();
    client.sync([{ id: 'w', endpoint: first.endpoint }]);
    await eventually(
      () => expect(client.workersOf('slow'), 'the worker to be alive').toHaveLength(1),
      within,
    );
    expect(await client.call('slow', { tag: 'one' })).toMatchObject({ by: 'first' });
    first.child.kill('SIGKILL');
    await eventually(() => expect(client.workersOf('slow'), 'the worker to be lost').toHaveLength(0), within);
    expect(await codeOf(client.call('slow', { tag: 'none' }))).toBe('INFERQ_FAST_PATH_UNAVAILABLE');
    await startWorker(first.endpoint, 'second');
    await eventually(
      () => expect(client.workersOf('slow'), 'the restarted worker to be alive').toHaveLength(1),
      within,
    );
    expect(await client.call('slow', { tag: 'two' })).toMatchObject({ by: 'second', tag: 'two' });
  });
});
