import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TaskWakeups } from '../../src/api/task-wakeups.js';
import { processBatch } from '../../src/worker/process-batch.js';
import { eventually } from '../fixtures/eventually.js';
import {
  type AppFixture,
  bearer,
  createAppFixture,
  finishTask,
  submitOne as submitEcho,
} from './app-fixture.js';

// Task event streams: /v1/tasks/{id}/events and /v1/requests/{id}/events.

let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture();
});
afterAll(async () => f.close());

const submit = (payload: object) =>
  f.app.inject({ method: 'POST', url: '/v1/tasks', headers: bearer(f.keys.user), payload });

describe('Server-Sent Events', () => {
  it('/v1/tasks/{id}/events streams state changes and ends when final', async () => {
    const [task] = (await submit({ target: 'echo', text: 'sse' })).json().tasks;
    const streamed = f.app.inject({
      method: 'GET',
      url: `/v1/tasks/${task.id}/events`,
      headers: bearer(f.keys.user),
    });
    await finishTask(f, task.id, { result: 1 });
    const res = await streamed;
    expect(res.headers['content-type']).toContain('text/event-stream');
    const states = [...res.body.matchAll(/"state":"(\w+)"/g)].map((m) => m[1]);
    expect(states.at(-1)).toBe('succeeded');
    expect(res.body).toMatch(/event: end\n/);
  });

  it('/v1/requests/{id}/events ends when every task of the request is final', async () => {
    const { requestId, tasks } = (await submit({ target: 'echo', text: ['r1', 'r2'] })).json();
    for (const t of tasks) await finishTask(f, t.id, { result: t.id });
    const res = await f.app.inject({
      method: 'GET',
      url: `/v1/requests/${requestId}/events`,
      headers: bearer(f.keys.user),
    });
    expect(res.body.match(/event: state/g)).toHaveLength(2);
    expect(res.body).toContain('"tasks":2');
  });

  it('/v1/requests/{id}/events reads only the open tasks again; a purged one ends the wait for it', async () => {
    const { requestId, tasks } = (await submit({ target: 'echo', text: ['o1', 'o2', 'o3'] })).json();
    const [done, later, purged] = tasks as Array<{ id: string }>;
    await finishTask(f, done!.id, { result: 1 });
    const reads = vi.spyOn(f.store, 'listTasks');
    try {
      const stream = f.app.inject({
        method: 'GET',
        url: `/v1/requests/${requestId}/events`,
        headers: bearer(f.keys.user),
      });
      // Once the stream has read the request, the other two change.
      await expect.poll(() => reads.mock.calls.length).toBeGreaterThan(0);
      await finishTask(f, later!.id, { result: 2 });
      // Deleted while queued, without a cancel (as another host's purge would leave it): the stream
      // must stop waiting for it rather than wait forever.
      expect(await f.store.deleteTask(purged!.id)).toBe(true);
      const res = await stream;
      expect(res.body).toContain('event: end\ndata: {"tasks":2}');
      const states = [
        ...res.body.matchAll(
          /"id":"([^"]+)","requestId":"[^"]+","target":"[^"]+","targetKind":"\w+","state":"(\w+)"/g,
        ),
      ].map((m) => [m[1], m[2]]);
      expect(states).toContainEqual([later!.id, 'succeeded']);
      // One read of the whole request, then reads by id of the tasks still open: never `done`.
      const filters = reads.mock.calls.map(([filter]) => filter);
      expect(filters[0]).toMatchObject({ requestId });
      expect(filters.length).toBeGreaterThan(1);
      for (const filter of filters.slice(1)) {
        expect(filter.requestId).toBeUndefined();
        expect(filter.ids).not.toContain(done!.id);
      }
    } finally {
      reads.mockRestore();
    }
  });
});

describe('event streams wake on worker announcements', () => {
  let slow: AppFixture;
  beforeAll(async () => {
    // Ten minutes between store reads: only a wake-up can end these streams within the test.
    slow = await createAppFixture({ pollIntervalMs: 600_000 });
  });
  afterAll(async () => slow.close());

  const submitOne = (text: string) => submitEcho(slow, text);

  it('a stream ends as soon as the worker that settles its task announces it', async () => {
    const submitted = await slow.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: bearer(slow.keys.user),
      payload: { target: 'echo', text: ['wake 1', 'wake 2'] },
    });
    const { requestId, tasks } = submitted.json() as { requestId: string; tasks: Array<{ id: string }> };
    const perTask = slow.app.inject({
      method: 'GET',
      url: `/v1/tasks/${tasks[0]!.id}/events`,
      headers: bearer(slow.keys.user),
    });
    const perRequest = slow.app.inject({
      method: 'GET',
      url: `/v1/requests/${requestId}/events`,
      headers: bearer(slow.keys.user),
    });
    // Let both streams read the store once and start waiting.
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The real worker step: lease, claim, run, settle, announce, ack.
    const jobs = await slow.broker.lease('echo@1.0.0', { max: 10, leaseMs: 30_000 });
    const report = await processBatch(
      {
        store: slow.store,
        broker: slow.broker,
        workerId: 'w-wake',
        handler: async (items) => items.map(() => ({ ok: true as const, result: { ok: 1 } })),
      },
      jobs,
    );
    expect(report.succeeded).toBe(2);
    const [one, all] = await Promise.all([perTask, perRequest]);
    expect([...one.body.matchAll(/"state":"(\w+)"/g)].map((m) => m[1]).at(-1)).toBe('succeeded');
    expect(one.body).toMatch(/event: end\n/);
    expect(all.body).toContain('"tasks":2');
  });

  it('a stream shows `running` when the worker starts the task, not at its next poll', async () => {
    const id = await submitOne('start me');
    const reads = vi.spyOn(slow.store, 'getTask');
    const stream = slow.app.inject({
      method: 'GET',
      url: `/v1/tasks/${id}/events`,
      headers: bearer(slow.keys.user),
    });
    await eventually(() => expect(reads).toHaveBeenCalled(), { timeoutMs: 1_000 });
    const jobs = await slow.broker.lease('echo@1.0.0', { max: 10, leaseMs: 30_000 });
    let readWhileRunning = false;
    const report = await processBatch(
      {
        store: slow.store,
        broker: slow.broker,
        workerId: 'w-start',
        // The model runs until the stream has read the store again (the start woke it), or
        // gives up after 3 s: with a 10-minute poll, nothing else makes the stream read.
        handler: async (items) => {
          const before = reads.mock.calls.length;
          readWhileRunning = await eventually(() => expect(reads.mock.calls.length).toBeGreaterThan(before), {
            timeoutMs: 3_000,
            intervalMs: 10,
          }).then(
            () => true,
            () => false,
          );
          return items.map(() => ({ ok: true as const, result: { ok: 1 } }));
        },
      },
      jobs,
    );
    reads.mockRestore();
    expect(report.succeeded).toBe(1);
    expect(readWhileRunning).toBe(true);
    const states = [...(await stream).body.matchAll(/"state":"(\w+)"/g)].map((m) => m[1]);
    expect(states).toEqual(['queued', 'running', 'succeeded']);
  });

  it('a start wakes only the watches that asked for starts; an announcement between waits is kept', async () => {
    const wakeups = new TaskWakeups(slow.broker, pino({ level: 'silent' }));
    const finalOnly = await wakeups.watch(['t-1']); // ?wait= and predict
    const withStarts = await wakeups.watch(['t-1', 't-2'], { starts: true }); // event streams
    const woken: string[] = [];
    const waitFinal = finalOnly.next(600_000).then(() => woken.push('final-only'));
    const waitStarts = withStarts.next(600_000).then(() => woken.push('with-starts'));
    // Woken after the start, the same way: had the start woken final-only, it would be listed first.
    const marker = await wakeups.watch(['t-3']);
    const waitMarker = marker.next(600_000).then(() => woken.push('marker'));
    wakeups.notify(['t-1'], 'started');
    await waitStarts;
    wakeups.notify(['t-3']);
    await waitMarker;
    expect(woken).toEqual(['with-starts', 'marker']);
    wakeups.notify(['t-1']);
    await waitFinal;
    expect(woken).toEqual(['with-starts', 'marker', 'final-only']);
    // Announced while its holder was not waiting (reading the store): the next wait returns at
    // once instead of sleeping for the ten minutes.
    wakeups.notify(['t-2']);
    await withStarts.next(600_000);
    finalOnly.close();
    withStarts.close();
    marker.close();
    await wakeups.close();
  });

  it('a cancel through the API wakes the streams of the cancelled task', async () => {
    const id = await submitOne('to cancel');
    const stream = slow.app.inject({
      method: 'GET',
      url: `/v1/tasks/${id}/events`,
      headers: bearer(slow.keys.user),
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const cancelled = await slow.app.inject({
      method: 'DELETE',
      url: `/v1/tasks/${id}`,
      headers: bearer(slow.keys.user),
    });
    expect(cancelled.statusCode).toBe(200);
    const res = await stream;
    expect([...res.body.matchAll(/"state":"(\w+)"/g)].map((m) => m[1]).at(-1)).toBe('cancelled');
  });
});
