import { afterAll, beforeAll, expect, it } from 'vitest';
import { processBatch } from '../../src/worker/process-batch.js';
import { type AppFixture, bearer, createAppFixture } from '../api/app-fixture.js';

// Real SQLite store and broker (the API fixture); the handler stands in for a model whose
// results JSON cannot hold.
let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture();
});
afterAll(async () => f.close());

async function submit(texts: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const text of texts) {
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: bearer(f.keys.user),
      payload: { target: 'echo', text },
    });
    ids.push((res.json() as { tasks: Array<{ id: string }> }).tasks[0]!.id);
  }
  return ids;
}

it('a result JSON cannot hold fails its own task only; batch-mates are stored, every job acked', async () => {
  const [big, fine, loop] = await submit(['bigint', 'fine', 'cycle']);
  const jobs = await f.broker.lease('echo@1.0.0', { max: 10, leaseMs: 30_000 });
  expect(jobs).toHaveLength(3);
  const circular: Record<string, unknown> = { name: 'cycle' };
  circular.self = circular;
  const report = await processBatch(
    {
      store: f.store,
      broker: f.broker,
      workerId: 'w-unserializable',
      handler: async (items) =>
        items.map((item) => {
          if (item.task.id === big) return { ok: true as const, result: { count: 10n } };
          if (item.task.id === loop) return { ok: true as const, result: circular };
          return { ok: true as const, result: { echoed: 'fine' } };
        }),
    },
    jobs,
  );
  expect(report).toMatchObject({ succeeded: 1, failed: 2, retried: 0, stale: 0 });

  expect(await f.store.getTask(fine!)).toMatchObject({ state: 'succeeded', result: { echoed: 'fine' } });
  for (const id of [big!, loop!]) {
    const task = await f.store.getTask(id);
    expect(task).toMatchObject({ state: 'failed', error: { code: 'INFERQ_RESULT_UNSERIALIZABLE' } });
    expect(task?.error?.message).toMatch(/cannot be stored as JSON/);
  }
  // Nothing left leased or waiting: the failures are final, not retried.
  expect(await f.broker.depth('echo@1.0.0')).toMatchObject({ waiting: 0, leased: 0, delayed: 0 });
});
