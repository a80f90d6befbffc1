import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerKind, type BrokerNamespace, brokerNamespace } from '../fixtures/broker-namespace.js';
import { eventually } from '../fixtures/eventually.js';
import { InferqCluster } from '../fixtures/inferq-cluster.js';
import { freshSchema, testPostgresUrl } from '../fixtures/pg-schema.js';

/** Tasks of the first test; INFERQ_TEST_MP_TASKS raises or lowers it. */
const taskCount = Number(process.env.INFERQ_TEST_MP_TASKS ?? 2_000);

/** `postgres`: the broker's table in the task store's own schema (one URL for both), PostgreSQL alone. */
const brokers: Array<{ kind: BrokerKind; name: string; url: string | undefined; env: string }> = [
  { kind: 'redis', name: 'PostgreSQL + Redis', url: process.env.TEST_REDIS_URL, env: 'TEST_REDIS_URL' },
  { kind: 'rabbitmq', name: 'PostgreSQL + RabbitMQ', url: process.env.TEST_AMQP_URL, env: 'TEST_AMQP_URL' },
  { kind: 'postgres', name: 'PostgreSQL alone', url: testPostgresUrl, env: 'TEST_POSTGRES_URL' },
];

for (const broker of brokers) {
  const skip = !testPostgresUrl || !broker.url;
  if (skip) {
    console.warn(
      `TEST_POSTGRES_URL or ${broker.env} is unset: the multi-process test (2 APIs + 3 workers on ${broker.name}) did NOT run (scripts/test-services.sh starts the servers)`,
    );
  }

  describe.skipIf(skip)(`2 API + 3 worker processes on ${broker.name}`, () => {
    let cluster: InferqCluster;
    let namespace: BrokerNamespace;
    let dropSchema: () => Promise<void>;

    beforeAll(async () => {
      const fresh = await freshSchema(testPostgresUrl!);
      dropSchema = fresh.drop;
      const store = new URL(testPostgresUrl!);
      store.searchParams.set('schema', fresh.schema);
      namespace = brokerNamespace(broker.kind, broker.url!);
      cluster = await InferqCluster.start({
        storeUrl: store.toString(),
        brokerUrl: broker.kind === 'postgres' ? store.toString() : namespace.url,
        apis: 2,
        workers: 3,
      });
    }, 90_000);

    afterAll(async () => {
      await cluster?.stop();
      await dropSchema?.();
      await namespace?.cleanup();
    }, 60_000);

    it(`${taskCount} tasks across both APIs: all succeed, each run once, correct results, 3 workers registered`, async () => {
      const started = Date.now();
      const ids = await cluster.submitMany(0, taskCount);
      const submitted = Date.now();
      await cluster.waitSettled();
      console.info(
        `${taskCount} echo tasks through 2 APIs and 3 workers on ${broker.name}: submitted in ${submitted - started} ms, all done in ${Date.now() - started} ms`,
      );

      const outcomes = await cluster.outcomes();
      expect(outcomes.map((t) => t.id).sort()).toEqual([...ids].sort());
      for (const task of outcomes) {
        expect(task.state, task.id).toBe('succeeded');
        expect(task.sha256, task.id).toBe(cluster.expected.get(task.id));
        // Once: one attempt, one run started, one result written.
        expect(task.attempts, task.id).toBe(1);
        expect(task.runs, task.id).toBe(1);
        expect(task.succeeded, task.id).toBe(1);
      }
      // A sample through the API too, from both hosts.
      for (const [i, id] of ids.slice(0, 10).entries()) {
        const res = await fetch(`${cluster.api(i)}/v1/tasks/${id}/result`, { headers: cluster.headers });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { result: { sha256: string } };
        expect(body.result.sha256).toBe(cluster.expected.get(id));
      }
      const ran = new Set<unknown>();
      for (const id of ids.slice(0, 200)) {
        ran.add((await cluster.timeline(id)).find((e) => e.stage === 'running')?.data?.workerId);
      }
      expect(ran.size).toBeGreaterThan(1);

      const workerIds = cluster.workers.map((w) => InferqCluster.workerId(w));
      for (const base of cluster.bases) {
        const list = (await (await fetch(`${base}/v1/workers`, { headers: cluster.headers })).json()) as {
          items: Array<{ id: string; stale: boolean }>;
        };
        expect(list.items.map((w) => w.id).sort()).toEqual([...workerIds].sort());
        expect(list.items.every((w) => !w.stale)).toBe(true);
      }
    }, 120_000);

    it('a worker SIGKILLed mid-batch: after its leases expire, nothing lost and nothing doubled', async () => {
      const before = new Set((await cluster.outcomes()).map((t) => t.id));
      cluster.expected.clear();
      const ids = await cluster.submitMany(100_000, 90, { params: { delayMs: 1_500 } });
      // Kill the worker that runs one of these tasks now.
      const victim = await eventually(
        async () => {
          for (const id of ids) {
            const timeline = await cluster.timeline(id);
            const run = timeline.at(-1);
            // A batch that started less than 500 ms ago still has ~1 s to run: it dies with the worker.
            if (run?.stage !== 'running' || Date.now() - run.at > 500) continue;
            const workerId = run.data?.workerId as string | undefined;
            if (workerId !== undefined) return workerId;
          }
          throw new Error('no task of the wave started running in the last 500 ms');
        },
        { timeoutMs: 100_000, intervalMs: 50 }, // (within the test's 120 s)
      );
      const killed = cluster.workers.find((w) => InferqCluster.workerId(w) === victim);
      expect(killed, `worker ${victim} is one of ours`).toBeDefined();
      await killed!.stop('SIGKILL');
      cluster.workers.splice(cluster.workers.indexOf(killed!), 1);

      await cluster.waitSettled();
      const tasks = (await cluster.outcomes()).filter((t) => !before.has(t.id));
      expect(tasks.map((t) => t.id).sort()).toEqual([...ids].sort());
      for (const task of tasks) {
        expect(task.state, task.id).toBe('succeeded');
        expect(task.sha256, task.id).toBe(cluster.expected.get(task.id));
        expect(task.succeeded, task.id).toBe(1);
      }
      let takenOver = 0;
      for (const task of tasks) {
        const timeline = await cluster.timeline(task.id);
        const expired = timeline.find((e) => e.stage === 'lease-expired');
        if (expired === undefined) continue;
        takenOver++;
        // The timeline in the message tells a second take-over (whose lease ran out) from a double lease.
        expect(expired.data?.workerId, JSON.stringify(timeline)).toBe(victim);
        expect(task.attempts, JSON.stringify(timeline)).toBe(2);
      }
      expect(takenOver).toBeGreaterThan(0);
    }, 60_000);
  });
}
