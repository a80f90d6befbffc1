import type { AddressInfo } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferqClient } from '../../src/client/index.js';
import type { StatsSnapshot } from '../../src/client/types.js';
import { type AppFixture, bearer, createAppFixture } from './app-fixture.js';

let f: AppFixture;

/** Submits `text` to echo as `key`, then plays the worker: claim, and succeed with run timings. */
async function runEcho(
  key: string,
  text: string,
  timing = { queueWaitMs: 30, batchWaitMs: 2, computeMs: 10, batchSize: 4 },
) {
  const res = await f.app.inject({
    method: 'POST',
    url: '/v1/tasks',
    headers: bearer(key),
    payload: { target: 'echo', text },
  });
  const id = res.json().tasks[0].id as string;
  const token = `lease-${id}`;
  await f.store.claimTask(id, { leaseToken: token, workerId: 'w' });
  await f.store.completeTask(id, { leaseToken: token, result: { ok: true }, timing });
  return id;
}

const get = (url: string, key: string) => f.app.inject({ method: 'GET', url, headers: bearer(key) });

beforeAll(async () => {
  f = await createAppFixture();
  await runEcho(f.keys.user, 'a');
  await runEcho(f.keys.user, 'b', { queueWaitMs: 50, batchWaitMs: 4, computeMs: 20, batchSize: 4 });
  await runEcho(f.keys.other, 'c');
});
afterAll(async () => f.close());

describe('GET /v1/stats/history', () => {
  it('lists every bucket of the window from the store, the caller’s tasks only', async () => {
    const res = await get('/v1/stats/history?windowSeconds=600&bucketSeconds=10', f.keys.user);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ scope: 'acme', windowSeconds: 600, bucketSeconds: 10 });
    expect(body.buckets).toHaveLength(60);
    expect(body.to - body.from).toBe(600_000);
    for (const [i, bucket] of body.buckets.entries()) expect(bucket.start).toBe(body.from + i * 10_000);
    const busy = body.buckets.filter((b: { finished: number }) => b.finished > 0);
    const finished = busy.reduce((n: number, b: { finished: number }) => n + b.finished, 0);
    expect(finished).toBe(2);
    const last = busy.at(-1);
    expect(last).toMatchObject({ failed: 0, errorRate: 0, batchSize: 4 });
    expect(last.p50Ms).toBeGreaterThanOrEqual(0);
    expect(last.perSecond).toBeCloseTo(last.finished / last.seconds, 6);
    const empty = body.buckets.find((b: { finished: number }) => b.finished === 0);
    expect(empty).toMatchObject({ perSecond: 0, errorRate: null, p50Ms: null, batchSize: null });
  });

  it('all=true needs an admin key and covers every tenant; too many buckets is a 400', async () => {
    const forbidden = await get('/v1/stats/history?all=true', f.keys.user);
    expect([forbidden.statusCode, forbidden.json().error.code]).toEqual([403, 'INFERQ_FORBIDDEN']);
    const all = (await get('/v1/stats/history?all=true', f.keys.admin)).json();
    expect(all.scope).toBe('all');
    expect(all.bucketSeconds).toBe(60);
    expect(all.buckets.reduce((n: number, b: { finished: number }) => n + b.finished, 0)).toBe(3);
    const tooMany = await get('/v1/stats/history?windowSeconds=86400&bucketSeconds=1', f.keys.user);
    expect([tooMany.statusCode, tooMany.json().error.code]).toEqual([400, 'INFERQ_VALIDATION_FAILED']);
  });
});

describe('GET /v1/stats/overview', () => {
  it('counts the backlog now and the window’s outcomes, per model and in total', async () => {
    await f.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: bearer(f.keys.user),
      payload: { target: 'words', text: 'waiting' },
    });
    const body = (await get('/v1/stats/overview?windowSeconds=600', f.keys.user)).json();
    expect(body).toMatchObject({ scope: 'acme', windowSeconds: 600 });
    expect(body.totals).toEqual({
      queued: 1,
      running: 0,
      finished: 2,
      succeeded: 2,
      failed: 0,
      cancelled: 0,
      cacheHits: 0,
      perSecond: 2 / 600,
      errorRate: 0,
      hitRate: 0,
    });
    expect(
      body.targets.map((t: { target: string; queued: number; finished: number }) => [
        t.target,
        t.queued,
        t.finished,
      ]),
    ).toEqual([
      ['echo@1.0.0', 0, 2],
      ['words@1', 1, 0],
    ]);
    expect(Object.keys(body.queues)).toContain('echo@1.0.0');
  });
});

describe('cache hits in the stats', () => {
  it('are counted apart (cacheHits, hitRate) and left out of the latency percentiles', async () => {
    const g = await createAppFixture();
    try {
      const submit = () =>
        g.app.inject({
          method: 'POST',
          url: '/v1/tasks',
          headers: bearer(g.keys.user),
          payload: { target: 'echo', text: 'same input' },
        });
      // One run of 500 ms, then three repeats the result cache answers at once.
      const id = (await submit()).json().tasks[0].id as string;
      const task = (await g.store.getTask(id))!;
      await g.store.claimTask(id, { leaseToken: 't', workerId: 'w' });
      await g.store.completeTask(id, { leaseToken: 't', result: { ok: true }, at: task.createdAt + 500 });
      for (let i = 0; i < 3; i++) expect((await submit()).json().tasks[0].cached).toBe(true);
      const read = async (url: string) =>
        (await g.app.inject({ method: 'GET', url, headers: bearer(g.keys.user) })).json();

      const overview = await read('/v1/stats/overview?windowSeconds=600');
      expect(overview.totals).toMatchObject({ finished: 4, succeeded: 4, cacheHits: 3, hitRate: 0.75 });
      expect(overview.targets[0]).toMatchObject({ cacheHits: 3, hitRate: 0.75, p50Ms: 500, p99Ms: 500 });
      const stats = await read('/v1/stats?windowSeconds=600');
      expect(stats.recent[0]).toMatchObject({ succeeded: 4, cacheHits: 3, hitRate: 0.75, p50Ms: 500 });
      const history = await read('/v1/stats/history?windowSeconds=3600&bucketSeconds=3600');
      const busy = history.buckets.filter((b: { finished: number }) => b.finished > 0);
      expect(busy.reduce((n: number, b: { cacheHits: number }) => n + b.cacheHits, 0)).toBe(3);
      for (const bucket of busy) {
        // A bucket holding the 500 ms run says 500; one holding only cache hits has no latency.
        expect([500, null]).toContain(bucket.p50Ms);
      }
    } finally {
      await g.close();
    }
  });
});

describe('GET /v1/stats/models', () => {
  it('gives queue wait, batch wait, compute and total per model', async () => {
    const body = (await get('/v1/stats/models', f.keys.user)).json();
    expect(body).toMatchObject({ scope: 'acme', windowSeconds: 900 });
    expect(body.items).toEqual([
      {
        target: 'echo@1.0.0',
        tasks: 2,
        queueWaitMs: { p50: 30, p95: 50 },
        batchWaitMs: { p50: 2, p95: 4 },
        computeMs: { p50: 10, p95: 20 },
        totalMs: { p50: expect.any(Number), p95: expect.any(Number) },
        batchSize: 4,
      },
    ]);
  });
});

describe('GET /v1/stats/events', () => {
  it('pushes a snapshot at once and another when a task finishes; app.close ends the stream', async () => {
    const live = await createAppFixture();
    await live.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(live.app.server.address() as AddressInfo).port}`;
    // Its own connection pool: a stream the client breaks off leaves a spare socket in undici's
    // pool, which the server would wait for (undici's 4 s keep-alive) when it closes.
    const agent = new Agent();
    const client = new InferqClient({
      url,
      apiKey: live.keys.user,
      maxAttempts: 1,
      fetch: ((input, init) =>
        undiciFetch(input as string, { ...init, dispatcher: agent } as never)) as typeof fetch,
    });
    const controller = new AbortController();
    const snapshots: StatsSnapshot[] = [];
    const succeeded = (s: StatsSnapshot) => s.overview.totals.succeeded;
    const f0 = f;
    f = live; // runEcho plays the worker of `f`
    try {
      for await (const snapshot of client.statsEvents({
        intervalMs: 250,
        bucketSeconds: 10,
        signal: controller.signal,
      })) {
        snapshots.push(snapshot);
        if (snapshots.length === 1) {
          expect(succeeded(snapshot)).toBe(0);
          expect(snapshot.history.buckets).toHaveLength(2);
          expect(snapshot.history.bucketSeconds).toBe(10);
          await runEcho(live.keys.user, 'live');
        } else if (succeeded(snapshot) === 1) break;
      }
      await agent.destroy();
      const latest = snapshots.at(-1)!;
      expect(latest.overview.scope).toBe('acme');
      expect(latest.overview.targets.map((t) => [t.target, t.finished])).toEqual([['echo@1.0.0', 1]]);
      expect(latest.history.buckets.reduce((n, b) => n + b.finished, 0)).toBe(1);

      // A stream still open when the server shuts down is ended, not waited for.
      const events = await fetch(`${url}/v1/stats/events`, { headers: bearer(live.keys.user) });
      expect(events.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const body = events.body!.getReader();
      await body.read();
      await live.app.close();
      let done = false;
      while (!done) done = (await body.read()).done;
    } finally {
      controller.abort();
      f = f0;
      await live.close();
    }
  }, 20_000);

  it('refuses all=true for a non-admin key before streaming', async () => {
    const res = await get('/v1/stats/events?all=true', f.keys.user);
    expect([res.statusCode, res.json().error.code]).toEqual([403, 'INFERQ_FORBIDDEN']);
  });
});
