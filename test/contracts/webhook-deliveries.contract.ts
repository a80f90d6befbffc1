import { expect } from 'vitest';
import type { Task } from '../../src/core/task.js';
import type { TaskStore } from '../../src/store/task-store.js';
import type { WebhookDeliveries } from '../../src/store/webhook-deliveries.js';
import {
  type ContractOptions,
  create,
  createRunning,
  describeContract,
  type StoreFactory,
} from './task-store-fixtures.js';

/**
 * The behaviour every `WebhookDeliveries` adapter must have: a final task with a callback is due
 * until delivered, a due delivery is claimed once across pollers, attempts are recorded. Tasks
 * are created and settled through the same database's `TaskStore`.
 */
export function runWebhookDeliveriesContract(
  name: string,
  factory: StoreFactory<TaskStore & WebhookDeliveries>,
  options: ContractOptions = {},
): void {
  describeContract(`WebhookDeliveries contract: ${name}`, factory, options, ({ store, section, test }) => {
    section('webhook deliveries', () => {
      test('a final task with a callback is due until delivered; attempts are recorded', async () => {
        const plain = await create(store);
        const { task, token } = await createRunning(store, { callbackUrl: 'https://example.com/hook' });
        expect(await store.getWebhookDelivery(plain.id)).toBeUndefined();
        expect(await store.getWebhookDelivery(task.id)).toEqual({
          state: 'pending',
          attempts: [],
          nextAt: 0,
        });
        // Not due while running.
        expect(await store.dueWebhooks(Date.now(), 10, 30_000)).toEqual([]);
        await store.completeTask(task.id, { leaseToken: token, result: { ok: 1 } });
        const due = await store.dueWebhooks(Date.now(), 10, 30_000);
        expect(due.map((t) => [t.id, t.state, t.result])).toEqual([[task.id, 'succeeded', { ok: 1 }]]);

        const attempt = { attempt: 1, at: 10, statusCode: 500, error: 'HTTP 500', durationMs: 3 };
        await store.recordWebhookAttempt(task.id, attempt, { state: 'pending', nextAt: Date.now() + 60_000 });
        expect(await store.dueWebhooks(Date.now(), 10, 30_000)).toEqual([]);
        expect((await store.dueWebhooks(Date.now() + 61_000, 10, 30_000)).map((t) => t.id)).toEqual([
          task.id,
        ]);

        const second = { attempt: 2, at: 20, statusCode: 204, error: null, durationMs: 2 };
        await store.recordWebhookAttempt(task.id, second, { state: 'delivered' });
        expect(await store.dueWebhooks(Date.now() + 61_000, 10, 30_000)).toEqual([]);
        expect(await store.getWebhookDelivery(task.id)).toEqual({
          state: 'delivered',
          attempts: [attempt, second],
          nextAt: null,
        });
      });

      test('a due delivery is claimed: hidden from other pollers until the claim runs out', async () => {
        const task = await create(store, {
          callbackUrl: 'https://example.com/h',
          cachedResult: { result: 1 },
        });
        const now = Date.now();
        const ids = (tasks: Task[]) => tasks.map((t) => t.id);
        expect(ids(await store.dueWebhooks(now, 10, 30_000))).toEqual([task.id]);
        // Claimed: another poller (another API host) does not get it.
        expect(await store.dueWebhooks(now, 10, 30_000)).toEqual([]);
        expect(await store.dueWebhooks(now + 29_000, 10, 30_000)).toEqual([]);
        // Its claimer died without recording an attempt: due again once the claim runs out.
        expect(ids(await store.dueWebhooks(now + 30_000, 10, 30_000))).toEqual([task.id]);
      });

      test("a poll can leave out tenants' deliveries (those at their concurrency) for others", async () => {
        const busy = await create(store, {
          owner: 'busy',
          callbackUrl: 'https://example.com/a',
          cachedResult: { result: 1 },
        });
        const idle = await create(store, {
          owner: 'idle',
          callbackUrl: 'https://example.com/b',
          cachedResult: { result: 1 },
        });
        const now = Date.now();
        expect((await store.dueWebhooks(now, 10, 30_000, ['busy'])).map((t) => t.id)).toEqual([idle.id]);
        expect((await store.dueWebhooks(now, 10, 30_000, ['busy', 'idle'])).map((t) => t.id)).toEqual([]);
        expect((await store.dueWebhooks(now, 10, 30_000, [])).map((t) => t.id)).toEqual([busy.id]);
      });

      test('a cached task with a callback is due at once', async () => {
        const task = await create(store, {
          callbackUrl: 'https://example.com/h',
          cachedResult: { result: 1 },
        });
        expect((await store.dueWebhooks(Date.now(), 10, 30_000)).map((t) => t.id)).toEqual([task.id]);
      });
    });
  });
}
