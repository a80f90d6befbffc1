import { expect } from 'vitest';
import type { NewTask, Task } from '../../src/core/task.js';
import type { TaskStats } from '../../src/store/task-stats.js';
import type { TaskStore } from '../../src/store/task-store.js';
import {
  type ContractOptions,
  child,
  create,
  createRunning,
  describeContract,
  runningPipelineTask,
  type StoreFactory,
} from './task-store-fixtures.js';

/**
 * The behaviour every `TaskStats` adapter must have: counts, latencies and cache hits, the live
 * activity, the history and the latency breakdown, over tasks created and settled through the
 * same database's `TaskStore`. Both stores answer from the same statements (store/stats/), so
 * these tests hold them to the same figures.
 */
export function runTaskStatsContract(
  name: string,
  factory: StoreFactory<TaskStore & TaskStats>,
  options: ContractOptions = {},
): void {
  describeContract(`TaskStats contract: ${name}`, factory, options, ({ store, section, test }) => {
    section('stats', () => {
      test('counts by target and state, and latencies of recently finished tasks, per owner', async () => {
        await create(store, { owner: 'alice' });
        const { task, token } = await createRunning(store, { owner: 'alice' });
        await store.completeTask(task.id, { leaseToken: token, result: 1, at: task.createdAt + 40 });
        await create(store, { owner: 'bob', target: { kind: 'model', name: 'bert', version: '2' } });
        const alice = await store.taskStats({ owner: 'alice', since: 0 });
        expect(alice.byTarget).toEqual([
          { target: 'resnet@1', counts: { queued: 1, running: 0, succeeded: 1, failed: 0, cancelled: 0 } },
        ]);
        expect(alice.recent).toEqual([
          { target: 'resnet@1', finished: 1, succeeded: 1, cacheHits: 0, p50Ms: 40, p90Ms: 40, p99Ms: 40 },
        ]);
        const all = await store.taskStats({ since: Date.now() + 60_000 });
        expect(all.byTarget.map((t) => t.target)).toEqual(['bert@2', 'resnet@1']);
        expect(all.recent).toEqual([]);
      });
    });

    section('stats', () => {
      test('cache hits are counted apart and left out of the latency percentiles, in every view', async () => {
        // One task a worker ran in 40 ms, then three repeats answered from the result cache
        // (created succeeded, 0 ms): counted as runs they would make p50 0 ms.
        const { task, token } = await createRunning(store);
        await store.completeTask(task.id, { leaseToken: token, result: 1, at: task.createdAt + 40 });
        for (let i = 0; i < 3; i++) {
          await create(store, { input: task.input, cachedResult: { result: 1 } });
        }
        const stats = await store.taskStats({ since: 0 });
        expect(stats.recent).toEqual([
          { target: 'resnet@1', finished: 4, succeeded: 4, cacheHits: 3, p50Ms: 40, p90Ms: 40, p99Ms: 40 },
        ]);
        const [activity] = await store.activityStats({ owner: 'alice', since: task.createdAt });
        expect(activity).toMatchObject({ finished: 4, succeeded: 4, cacheHits: 3, p50Ms: 40, p99Ms: 40 });
        const history = await store.taskHistory({
          owner: 'alice',
          from: task.createdAt,
          to: Date.now() + 60_000,
          bucketMs: 3_600_000,
        });
        expect(
          history.map(({ finished, succeeded, cacheHits, p50Ms, p95Ms }) => ({
            finished,
            succeeded,
            cacheHits,
            p50Ms,
            p95Ms,
          })),
        ).toEqual([{ finished: 4, succeeded: 4, cacheHits: 3, p50Ms: 40, p95Ms: 40 }]);
        // A target with only cache hits: counted, and no latency at all rather than 0 ms.
        const bert = { kind: 'model' as const, name: 'bert', version: '2' };
        await create(store, { owner: 'bob', target: bert, cachedResult: { result: 2 } });
        const bob = await store.activityStats({ owner: 'bob', since: task.createdAt });
        expect(bob).toMatchObject([
          { target: 'bert@2', finished: 1, cacheHits: 1, p50Ms: null, p99Ms: null },
        ]);
        expect((await store.taskStats({ owner: 'bob', since: 0 })).recent).toMatchObject([
          { target: 'bert@2', succeeded: 1, cacheHits: 1, p50Ms: null },
        ]);
      });
    });

    section('history', () => {
      /** A task of `owner` on `target` that finishes `latency` ms after it was created. */
      const finish = async (
        outcome: 'succeeded' | 'failed' | 'cancelled',
        latency: number,
        overrides: Partial<NewTask> = {},
        timing?: Record<string, unknown>,
      ): Promise<Task> => {
        const { task, token } = await createRunning(store, overrides);
        const at = task.createdAt + latency;
        if (outcome === 'succeeded') {
          await store.completeTask(task.id, {
            leaseToken: token,
            result: 1,
            at,
            ...(timing ? { timing } : {}),
          });
        } else if (outcome === 'failed') {
          await store.failTask(task.id, {
            leaseToken: token,
            error: { code: 'X', message: 'x' },
            retry: false,
            at,
          });
        } else await store.cancelTask(task.id, at);
        return task;
      };
      const run = (batchSize: number, computeMs: number) => ({
        queueWaitMs: computeMs * 2,
        batchWaitMs: computeMs / 10,
        computeMs,
        batchSize,
      });

      test('taskHistory buckets finished tasks by time: counts, latency percentiles, batch sizes', async () => {
        const first = await finish('succeeded', 100, {}, run(2, 10));
        const from = first.createdAt;
        await finish('succeeded', 200, {}, run(2, 10));
        await finish('succeeded', 300, {}, run(4, 10));
        await finish('succeeded', 400, {}, run(4, 10));
        await finish('failed', 50);
        await finish('succeeded', 25_000);
        await finish('cancelled', 21_000);
        await finish('succeeded', 150, { owner: 'bob' });
        await finish('succeeded', 90_000); // after `to`
        await create(store); // never finished
        const alice = await store.taskHistory({ owner: 'alice', from, to: from + 30_000, bucketMs: 10_000 });
        expect(alice).toEqual([
          {
            start: from,
            finished: 5,
            succeeded: 4,
            failed: 1,
            cancelled: 0,
            cacheHits: 0,
            p50Ms: 200,
            p95Ms: 400,
            p99Ms: 400,
            batchSize: expect.closeTo(4 / 1.5, 6),
          },
          {
            start: from + 20_000,
            finished: 2,
            succeeded: 1,
            failed: 0,
            cancelled: 1,
            cacheHits: 0,
            p50Ms: 25_000,
            p95Ms: 25_000,
            p99Ms: 25_000,
            batchSize: null,
          },
        ]);
        const all = await store.taskHistory({ from, to: from + 30_000, bucketMs: 10_000 });
        expect(all.map((b) => [b.start - from, b.finished, b.p50Ms])).toEqual([
          [0, 6, 200],
          [20_000, 2, 25_000],
        ]);
        expect(
          await store.taskHistory({ from: from + 100_000, to: from + 200_000, bucketMs: 1_000 }),
        ).toEqual([]);
      });

      test('activityStats counts the backlog now and the tasks finished since `since`, per target', async () => {
        const first = await finish('succeeded', 100);
        await finish('succeeded', 300);
        await finish('failed', 50);
        await finish('cancelled', 20);
        const bert = { target: { kind: 'model' as const, name: 'bert', version: '2' } };
        await create(store, bert);
        await create(store, bert);
        await createRunning(store, bert);
        await createRunning(store);
        await create(store, { ...bert, owner: 'bob' });
        await finish('succeeded', 999, { owner: 'bob' });
        const alice = await store.activityStats({ owner: 'alice', since: first.createdAt });
        expect(alice).toEqual([
          {
            target: 'bert@2',
            queued: 2,
            running: 1,
            finished: 0,
            succeeded: 0,
            failed: 0,
            cancelled: 0,
            cacheHits: 0,
            p50Ms: null,
            p95Ms: null,
            p99Ms: null,
          },
          {
            target: 'resnet@1',
            queued: 0,
            running: 1,
            finished: 4,
            succeeded: 2,
            failed: 1,
            cancelled: 1,
            cacheHits: 0,
            p50Ms: 100,
            p95Ms: 300,
            p99Ms: 300,
          },
        ]);
        const all = await store.activityStats({ since: Date.now() + 60_000 });
        expect(all.map((a) => [a.target, a.queued, a.running, a.finished])).toEqual([
          ['bert@2', 3, 1, 0],
          ['resnet@1', 0, 1, 0],
        ]);
      });

      test('latencyBreakdown gives queue wait, batch wait, compute and total per target', async () => {
        const first = await finish('succeeded', 100, {}, run(4, 10));
        for (const computeMs of [20, 30, 40])
          await finish('succeeded', 100 + computeMs, {}, run(4, computeMs));
        const bert = { target: { kind: 'model' as const, name: 'bert', version: '2' } };
        await finish('succeeded', 500, bert, run(1, 200));
        await finish('succeeded', 600, { ...bert, owner: 'bob' }, run(1, 300));
        await finish('failed', 50, bert);
        await create(store, { cachedResult: { result: 1 } }); // succeeded without a model run
        await finish('succeeded', 70); // no timings (e.g. a pipeline task)
        const alice = await store.latencyBreakdown({ owner: 'alice', since: first.createdAt });
        expect(alice).toEqual([
          {
            target: 'bert@2',
            tasks: 1,
            queueWaitMs: { p50: 400, p95: 400 },
            batchWaitMs: { p50: 20, p95: 20 },
            computeMs: { p50: 200, p95: 200 },
            totalMs: { p50: 500, p95: 500 },
            batchSize: 1,
          },
          {
            target: 'resnet@1',
            tasks: 4,
            queueWaitMs: { p50: 40, p95: 80 },
            batchWaitMs: { p50: 2, p95: 4 },
            computeMs: { p50: 20, p95: 40 },
            totalMs: { p50: 120, p95: 140 },
            batchSize: 4,
          },
        ]);
        const all = await store.latencyBreakdown({ since: first.createdAt });
        expect(all.map((b) => [b.target, b.tasks, b.computeMs.p95])).toEqual([
          ['bert@2', 2, 300],
          ['resnet@1', 4, 40],
        ]);
        expect(await store.latencyBreakdown({ since: Date.now() + 60_000 })).toEqual([]);
      });
    });

    section('child tasks', () => {
      const pipelineTask = () => runningPipelineTask(store);

      test("stats count a pipeline's tasks and its model steps, not its transform steps", async () => {
        const { task: parent } = await pipelineTask();
        await store.createChildTasks(parent.id, [
          // A transform's output: stored under the pipeline's own target, created done.
          child(parent.id, 'crop', 0, { target: parent.target, cachedResult: { result: [] } }),
          child(parent.id, 'rec', 0, { cachedResult: { result: { text: 'a' } } }),
        ]);
        const owner = parent.owner;
        const since = Date.now() - 60_000;
        const counts = (await store.taskStats({ owner, since })).byTarget;
        expect(counts.find((t) => t.target === 'ocr@1')?.counts).toMatchObject({ running: 1, succeeded: 0 });
        expect(counts.find((t) => t.target === 'ocr-rec@4')?.counts).toMatchObject({ succeeded: 1 });
        const recent = (await store.taskStats({ owner, since })).recent.map((r) => [r.target, r.finished]);
        expect(recent).toEqual([['ocr-rec@4', 1]]);
        const activity = await store.activityStats({ owner, since });
        expect(activity.map((a) => [a.target, a.running, a.finished])).toEqual([
          ['ocr-rec@4', 0, 1],
          ['ocr@1', 1, 0],
        ]);
        const history = await store.taskHistory({
          owner,
          from: since,
          to: Date.now() + 60_000,
          bucketMs: 3_600_000,
        });
        expect(history.reduce((n, b) => n + b.finished, 0)).toBe(1);
      });
    });
  });
}
