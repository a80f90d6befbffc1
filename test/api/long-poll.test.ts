import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { processBatch } from '../../src/worker/process-batch.js';
import { eventually } from '../fixtures/eventually.js';
import { type AppFixture, bearer, createAppFixture, submitOne as submitEcho } from './app-fixture.js';

// Ten minutes between store reads, and waits of up to ten minutes: within a test, only a
// worker's announcement, a cancel, the end of `wait` or the client leaving can end a request.
let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture({ pollIntervalMs: 600_000, config: { 'api.maxWait': '10m' } });
});
afterAll(async () => f.close());

const get = (url: string, key = f.keys.user) => f.app.inject({ method: 'GET', url, headers: bearer(key) });
const errorOf = (res: { json(): unknown }) =>
  (res.json() as { error: { code: string; message: string; details?: Record<string, unknown> } }).error;

const submitOne = (text: string) => submitEcho(f, text);

/** The real worker step over the fixture's broker and store: lease, claim, run, settle, announce, ack. */
async function runWorker(result: unknown): Promise<void> {
  const jobs = await f.broker.lease('echo@1.0.0', { max: 10, leaseMs: 30_000 });
  const report = await processBatch(
    {
      store: f.store,
      broker: f.broker,
      workerId: 'w-long-poll',
      handler: async (items) => items.map(() => ({ ok: true as const, result })),
    },
    jobs,
  );
  expect(report.succeeded).toBeGreaterThan(0);
}

/** A request still in flight after the server had time to read the store and start waiting. */
async function expectHeld(pending: Promise<unknown>): Promise<void> {
  let answered = false;
  void pending.then(() => {
    answered = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(answered).toBe(false);
}

describe('?wait= on GET /v1/tasks/{id}/result and GET /v1/tasks/{id}', () => {
  it('a waiting result request answers with the result when the worker announces the task settled', async () => {
    const id = await submitOne('long poll');
    const result = get(`/v1/tasks/${id}/result?wait=600000`);
    const task = get(`/v1/tasks/${id}?wait=10m`);
    await expectHeld(Promise.race([result, task]));
    await runWorker({ echoed: 'long poll' });
    const [res, view] = await Promise.all([result, task]);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id, cached: false, result: { echoed: 'long poll' } });
    expect(view.statusCode).toBe(200);
    expect(view.json()).toMatchObject({ id, state: 'succeeded', result: { echoed: 'long poll' } });
    // The answer after waiting is the full view, timeline included.
    expect(view.json().timeline.map((e: { stage: string }) => e.stage)).toContain('succeeded');
  });

  it('a settlement announced while the server reads the task is not missed', async () => {
    const id = await submitOne('race');
    // The server's first read finds the task queued; before that read returns, the worker
    // settles it and announces so (on PostgreSQL a read is a round trip, time enough for that).
    const read = f.store.getTaskWithoutTimeline.bind(f.store);
    const spy = vi.spyOn(f.store, 'getTaskWithoutTimeline').mockImplementationOnce(async (taskId) => {
      const queued = await read(taskId);
      await runWorker({ echoed: 'race' });
      return queued;
    });
    // With the ten-minute poll, only the announcement can end this wait within the test.
    const res = await get(`/v1/tasks/${id}/result?wait=600000`);
    spy.mockRestore();
    expect(res.statusCode).toBe(200);
    expect(res.json().result).toEqual({ echoed: 'race' });
  }, 10_000);

  it('a wait that runs out answers as without waiting: 404 INFERQ_RESULT_NOT_READY, or the task', async () => {
    const id = await submitOne('not yet');
    const res = await get(`/v1/tasks/${id}/result?wait=20`);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error: {
        code: 'INFERQ_RESULT_NOT_READY',
        message: `task ${id} is queued; no result yet`,
        details: { id, state: 'queued' },
      },
    });
    const view = await get(`/v1/tasks/${id}?wait=20ms`);
    expect(view.statusCode).toBe(200);
    expect(view.json()).toMatchObject({ id, state: 'queued' });
    expect(view.json().timeline.map((e: { stage: string }) => e.stage)).toEqual(['created', 'queued']);
  });

  it('a cancel during the wait ends it with 409 INFERQ_TASK_FAILED', async () => {
    const id = await submitOne('to cancel');
    const result = get(`/v1/tasks/${id}/result?wait=10m`);
    await expectHeld(result);
    const cancelled = await f.app.inject({
      method: 'DELETE',
      url: `/v1/tasks/${id}`,
      headers: bearer(f.keys.user),
    });
    expect(cancelled.statusCode).toBe(200);
    const res = await result;
    expect(res.statusCode).toBe(409);
    expect(errorOf(res)).toMatchObject({ code: 'INFERQ_TASK_FAILED', details: { id, state: 'cancelled' } });
  });

  it('refuses a malformed or negative wait with 400 INFERQ_VALIDATION_FAILED naming `wait`', async () => {
    const id = await submitOne('bad wait');
    for (const wait of ['-5', 'soon', '5x', '1e3', '', '-1s']) {
      for (const url of [`/v1/tasks/${id}/result`, `/v1/tasks/${id}`]) {
        const res = await get(`${url}?wait=${encodeURIComponent(wait)}`);
        expect([res.statusCode, errorOf(res).code], `${url}?wait=${wait}`).toEqual([
          400,
          'INFERQ_VALIDATION_FAILED',
        ]);
        expect(errorOf(res).message).toContain('wait');
        expect(errorOf(res).details).toMatchObject({ path: 'querystring/wait', value: wait });
      }
    }
  });

  it("another tenant's task is 404 at once, never waited on", async () => {
    const id = await submitOne('mine');
    for (const url of [`/v1/tasks/${id}/result?wait=10m`, `/v1/tasks/${id}?wait=10m`]) {
      const res = await get(url, f.keys.other);
      expect([res.statusCode, errorOf(res).code]).toEqual([404, 'INFERQ_TASK_NOT_FOUND']);
    }
  });

  it('a final task answers at once; without wait nothing changes', async () => {
    const id = await submitOne('done');
    await runWorker({ done: true });
    expect((await get(`/v1/tasks/${id}/result?wait=10m`)).json()).toEqual({
      id,
      cached: false,
      result: { done: true },
    });
    const other = await submitOne('plain');
    expect(errorOf(await get(`/v1/tasks/${other}/result`)).code).toBe('INFERQ_RESULT_NOT_READY');
  });

  it('/openapi.json documents the wait parameter of both routes', async () => {
    const spec = (await f.app.inject({ url: '/openapi.json' })).json();
    for (const path of ['/v1/tasks/{id}', '/v1/tasks/{id}/result']) {
      const wait = spec.paths[path].get.parameters.find((p: { name: string }) => p.name === 'wait');
      expect(wait, path).toMatchObject({ in: 'query', required: false });
      expect(wait.description ?? wait.schema?.description).toMatch(/until the task is final/);
    }
  });

  it('the wait is capped by api.maxWait', async () => {
    const capped = await createAppFixture({ pollIntervalMs: 600_000, config: { 'api.maxWait': 1 } });
    try {
      const submitted = await capped.app.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers: bearer(capped.keys.user),
        payload: { target: 'echo', text: 'capped' },
      });
      const id = (submitted.json() as { tasks: Array<{ id: string }> }).tasks[0]!.id;
      // Ten minutes asked, 1 ms allowed: only the cap can answer this within the test.
      const res = await capped.app.inject({
        method: 'GET',
        url: `/v1/tasks/${id}/result?wait=10m`,
        headers: bearer(capped.keys.user),
      });
      expect(errorOf(res).code).toBe('INFERQ_RESULT_NOT_READY');
    } finally {
      await capped.close();
    }
  });

  it('stops waiting when the client disconnects', async () => {
    const id = await submitOne('leaving');
    await f.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
    // The route reads the full task (timeline) only once its wait is over; record when it does.
    const store = f.store;
    const getTask = store.getTask.bind(store);
    let waitOver: () => void = () => undefined;
    const waitEnded = new Promise<void>((resolve) => {
      waitOver = resolve;
    });
    store.getTask = async (taskId) => {
      if (taskId === id) waitOver();
      return getTask(taskId);
    };
    try {
      const client = new AbortController();
      const request = fetch(`${url}/v1/tasks/${id}?wait=10m`, {
        headers: bearer(f.keys.user),
        signal: client.signal,
      }).catch((err: unknown) => err);
      await new Promise((resolve) => setTimeout(resolve, 50));
      client.abort();
      expect(await request).toMatchObject({ name: 'AbortError' });
      // Nothing else can end this wait: the task stays queued and reads are ten minutes apart.
      await waitEnded;
    } finally {
      store.getTask = getTask;
    }
  });

  it('predict stops waiting when its client disconnects (the task still runs to the end)', async () => {
    await f.app.listen({ host: '127.0.0.1', port: 0 }).catch(() => undefined); // may be listening already
    const url = `http://127.0.0.1:${(f.app.server.address() as AddressInfo).port}`;
    // Every store read of a task, with or without its timeline.
    const store = f.store;
    const read = store.getTaskWithoutTimeline.bind(store);
    const readFull = store.getTask.bind(store);
    let reads = 0;
    store.getTaskWithoutTimeline = async (taskId) => {
      reads++;
      return read(taskId);
    };
    store.getTask = async (taskId) => {
      reads++;
      return readFull(taskId);
    };
    try {
      const client = new AbortController();
      const request = fetch(`${url}/v1/models/echo/predict`, {
        method: 'POST',
        headers: { ...bearer(f.keys.user), 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'predict, then leave' }),
        signal: client.signal,
      }).catch((err: unknown) => err);
      await eventually(() => expect(reads).toBeGreaterThan(0), { timeoutMs: 25_000, intervalMs: 10 });
      client.abort();
      expect(await request).toMatchObject({ name: 'AbortError' });
      // Until the server has seen the connection close, the request may still be waiting.
      const open = () =>
        new Promise<number>((resolve, reject) =>
          f.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
        );
      await eventually(async () => expect(await open()).toBe(0), { timeoutMs: 25_000, intervalMs: 10 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const before = reads;
      // The worker settles and announces the task: a predict still waiting would read it again.
      await runWorker({ echoed: 'predict, then leave' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(reads).toBe(before);
    } finally {
      store.getTaskWithoutTimeline = read;
      store.getTask = readFull;
    }
  });
});
