import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InferqProcess, runInferq, startInferq } from '../fixtures/cli-process.js';
import { freshSchema, testPostgresUrl } from '../fixtures/pg-schema.js';

const redisUrl = process.env.TEST_REDIS_URL;
const skipReason =
  'TEST_POSTGRES_URL or TEST_REDIS_URL is unset: the multi-process test (2 APIs + 3 workers on PostgreSQL + Redis) did NOT run (scripts/test-services.sh starts the servers)';
if (!testPostgresUrl || !redisUrl) console.warn(skipReason);

interface TaskView {
  id: string;
  state: string;
  attempts: number;
  result?: { sha256: string };
  timeline: Array<{ stage: string; at: number; data?: { workerId?: string } }>;
}

describe.skipIf(!testPostgresUrl || !redisUrl)('2 API + 3 worker processes on PostgreSQL + Redis', () => {
  let dir: string;
  let dropSchema: () => Promise<void>;
  let prefix: string;
  let flags: string[];
  let key: string;
  const apis: InferqProcess[] = [];
  const workers: InferqProcess[] = [];
  let bases: string[] = [];
  /** Task id → the sha256 its echo result must carry. */
  const expected = new Map<string, string>();

  const headers = () => ({ authorization: `Bearer ${key}` });
  const api = (i: number) => bases[i % bases.length]!;

  async function submit(i: number, params: Record<string, unknown> = {}): Promise<void> {
    const content = `task ${i} ${randomBytes(8).toString('hex')}`;
    const form = new FormData();
    form.append('target', 'echo');
    form.append('params', JSON.stringify(params));
    form.append('file', new Blob([content]), `${i}.txt`);
    const res = await fetch(`${api(i)}/v1/tasks`, { method: 'POST', headers: headers(), body: form });
    expect(res.status, await res.clone().text()).toBe(202);
    const { tasks } = (await res.json()) as { tasks: Array<{ id: string }> };
    expect(tasks).toHaveLength(1);
    expected.set(tasks[0]!.id, createHash('sha256').update(content).digest('hex'));
  }

  /** Submits `count` tasks alternating between the APIs, `parallel` requests at a time. */
  async function submitMany(from: number, count: number, params?: Record<string, unknown>) {
    let next = from;
    const lane = async () => {
      while (next < from + count) await submit(next++, params);
    };
    await Promise.all(Array.from({ length: 16 }, lane));
  }

  /** Polls the task list (alternating APIs) until every given task is final. */
  async function waitFinal(ids: string[]): Promise<void> {
    for (let poll = 0; ; poll++) {
      const res = await fetch(`${api(poll)}/v1/tasks?target=echo&limit=1000`, { headers: headers() });
      const { items } = (await res.json()) as { items: Array<{ id: string; state: string }> };
      const final = new Set(items.filter((t) => !['queued', 'running'].includes(t.state)).map((t) => t.id));
      if (ids.every((id) => final.has(id))) return;
      await sleep(200);
    }
  }

  async function read(ids: string[]): Promise<TaskView[]> {
    return Promise.all(
      ids.map(
        async (id, i) =>
          (await (await fetch(`${api(i)}/v1/tasks/${id}`, { headers: headers() })).json()) as TaskView,
      ),
    );
  }

  const count = (task: TaskView, stage: string) => task.timeline.filter((e) => e.stage === stage).length;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-multi-'));
    const fresh = await freshSchema(testPostgresUrl!);
    dropSchema = fresh.drop;
    const store = new URL(testPostgresUrl!);
    store.searchParams.set('schema', fresh.schema);
    prefix = `inferq-mp-${randomBytes(4).toString('hex')}`;
    const broker = new URL(redisUrl!);
    broker.searchParams.set('prefix', prefix);
    const config = path.join(dir, 'inferq.yaml');
    // Everything in the file too, so that `inferq keys` (which has no --store flag) sees the store.
    await writeFile(
      config,
      [
        `dataDir: ${dir}`,
        `store: { url: "${store}" }`,
        `broker: { url: "${broker}", leaseMs: 2s }`,
        `blobs: { url: "file:${path.join(dir, 'blobs')}" }`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    flags = [
      '--config',
      config,
      '--store',
      `${store}`,
      '--broker',
      `${broker}`,
      '--blobs',
      `file:${path.join(dir, 'blobs')}`,
    ];

    const migrated = await runInferq(['migrate', ...flags]);
    expect(migrated.code, migrated.stderr).toBe(0);
    const created = await runInferq(['keys', 'create', '--config', config, '--tenant', 'mp', '--admin']);
    expect(created.code, created.stderr).toBe(0);
    key = created.stdout.trim();

    const started = await Promise.all([
      ...[0, 1].map(() => startInferq(['serve', '--no-workers', '--port', '0', ...flags], /Press Ctrl\+C/)),
      ...[0, 1, 2].map(() =>
        startInferq(['worker', '--model', 'echo', ...flags], /inferq worker \S+ serving: echo/),
      ),
    ]);
    apis.push(...started.slice(0, 2));
    workers.push(...started.slice(2));
    bases = apis.map((p) => /API\s+(http:\/\/\S+)\/v1/.exec(p.output())![1]!);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...apis, ...workers].map((p) => p.stop()));
    await dropSchema?.();
    if (redisUrl) {
      const redis = new Redis(redisUrl);
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('300 tasks across both APIs: all succeed, each run once, correct results, 3 workers registered', async () => {
    const started = Date.now();
    await submitMany(0, 300);
    const ids = [...expected.keys()];
    await waitFinal(ids);
    console.info(`300 echo tasks through 2 APIs and 3 workers: ${Date.now() - started} ms`);

    const tasks = await read(ids);
    for (const task of tasks) {
      expect(task.state, task.id).toBe('succeeded');
      expect(task.result?.sha256, task.id).toBe(expected.get(task.id));
      // Once: one attempt, one run started, one result written.
      expect(task.attempts, task.id).toBe(1);
      expect(count(task, 'running'), task.id).toBe(1);
      expect(count(task, 'succeeded'), task.id).toBe(1);
    }
    const ran = new Set(tasks.map((t) => t.timeline.find((e) => e.stage === 'running')?.data?.workerId));
    expect(ran.size).toBeGreaterThan(1);

    const workerIds = workers.map((w) => /inferq worker (\S+) serving/.exec(w.output())![1]!);
    for (const base of bases) {
      const list = (await (await fetch(`${base}/v1/workers`, { headers: headers() })).json()) as {
        items: Array<{ id: string; stale: boolean }>;
      };
      expect(list.items.map((w) => w.id).sort()).toEqual([...workerIds].sort());
      expect(list.items.every((w) => !w.stale)).toBe(true);
    }
  }, 60_000);

  it('a worker SIGKILLed mid-batch: after its leases expire, nothing lost and nothing doubled', async () => {
    expected.clear();
    await submitMany(1_000, 90, { delayMs: 1_500 });
    const ids = [...expected.keys()];
    // Kill the worker that runs one of these tasks now.
    let victim: string | undefined;
    while (victim === undefined) {
      const running = (await (
        await fetch(`${api(0)}/v1/tasks?target=echo&state=running&limit=1000`, { headers: headers() })
      ).json()) as { items: Array<{ id: string }> };
      for (const task of await read(running.items.slice(0, 8).map((t) => t.id))) {
        const run = task.timeline.findLast((e) => e.stage === 'running');
        // A batch that started less than 500 ms ago still has ~1 s to run: it dies with the worker.
        if (task.state !== 'running' || run === undefined || Date.now() - run.at > 500) continue;
        victim = run.data?.workerId;
        if (victim !== undefined) break;
      }
      if (victim === undefined) await sleep(50);
    }
    const killed = workers.find((w) => w.output().includes(`inferq worker ${victim} serving`));
    expect(killed, `worker ${victim} is one of ours`).toBeDefined();
    await killed!.stop('SIGKILL');
    workers.splice(workers.indexOf(killed!), 1);

    await waitFinal(ids);
    const tasks = await read(ids);
    for (const task of tasks) {
      expect(task.state, task.id).toBe('succeeded');
      expect(task.result?.sha256, task.id).toBe(expected.get(task.id));
      expect(count(task, 'succeeded'), task.id).toBe(1);
    }
    const takenOver = tasks.filter((t) => t.timeline.some((e) => e.stage === 'lease-expired'));
    expect(takenOver.length).toBeGreaterThan(0);
    for (const task of takenOver) {
      expect(task.timeline.find((e) => e.stage === 'lease-expired')?.data?.workerId).toBe(victim);
      expect(task.attempts).toBe(2);
    }
  }, 60_000);
});
