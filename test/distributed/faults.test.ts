import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferqProcess } from '../fixtures/cli-process.js';
import { eventually } from '../fixtures/eventually.js';
import { InferqCluster } from '../fixtures/inferq-cluster.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import { ThrowawayPostgres, ThrowawayRabbitMq, ThrowawayRedis } from '../fixtures/throwaway-servers.js';

/**
 * Faults under load, on servers of the test's own (the shared test servers are never
 * restarted): an API and two workers over a throwaway PostgreSQL cluster and a throwaway Redis
 * or RabbitMQ node, or PostgreSQL alone (its broker on the store's URL); one worker reaches the
 * broker through a TCP proxy whose connections the test cuts. Each fault hits while tasks are being submitted and run; afterwards every task in
 * the store must have succeeded exactly once (one `succeeded` timeline entry, the right result)
 * and every worker must be working again. No timing is asserted.
 */

interface BrokerServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** `start` undefined: the broker is the throwaway PostgreSQL itself (its restart is the PostgreSQL test's). */
const brokers: Array<{ name: string; available: boolean; start?: () => Promise<BrokerServer> }> = [
  { name: 'Redis', available: ThrowawayRedis.available(), start: () => ThrowawayRedis.start() },
  { name: 'RabbitMQ', available: ThrowawayRabbitMq.available(), start: () => ThrowawayRabbitMq.start() },
  { name: 'PostgreSQL alone', available: true },
];

/** How long a stopped server stays down: long enough for every process to notice. */
const outageMs = 2_000;
const wave = 240;

for (const broker of brokers) {
  const skip = !ThrowawayPostgres.available() || !broker.available;
  if (skip) {
    console.warn(
      `PostgreSQL or ${broker.name} binaries are missing: the fault tests on ${broker.name} did NOT run (scripts/test-services.sh installs them)`,
    );
  }

  const alone = broker.start === undefined;
  const title = alone ? broker.name : `PostgreSQL + ${broker.name}`;
  describe.skipIf(skip)(`faults under load: ${title} (throwaway servers)`, () => {
    let postgres: ThrowawayPostgres;
    let server: BrokerServer | undefined;
    let proxy: TcpProxy;
    let cluster: InferqCluster;
    let proxied: InferqProcess;
    let next = 0;

    beforeAll(async () => {
      [postgres, server] = await Promise.all([ThrowawayPostgres.start(), broker.start?.()]);
      const storeUrl = `${postgres.url}?schema=inferq`;
      const brokerUrl = server?.url ?? storeUrl;
      proxy = await TcpProxy.start(server?.port ?? postgres.port);
      const proxiedUrl = new URL(brokerUrl);
      proxiedUrl.port = String(proxy.port);
      cluster = await InferqCluster.start({
        storeUrl,
        brokerUrl,
        apis: 1,
        workers: 1,
        leaseMs: '2s',
      });
      proxied = await cluster.addWorker({ brokerUrl: proxiedUrl.toString() });
    }, 120_000);

    afterAll(async () => {
      if (process.env.INFERQ_TEST_DEBUG) {
        for (const p of [...(cluster?.apis ?? []), ...(cluster?.workers ?? [])])
          console.log(`--- pid ${p.child.pid} exit ${p.child.exitCode}\n${p.output().slice(-6000)}`);
      }
      await cluster?.stop();
      await proxy?.close();
      await Promise.all([postgres?.destroy(), server?.destroy()]);
    }, 60_000);

    /**
     * Submits a wave (retrying submissions a fault refuses), brings the fault once tasks are
     * running on `on` (any worker when omitted), then a second wave after it; waits until the
     * store has nothing open and checks every task in it.
     */
    async function underLoad(fault: () => Promise<void>, on?: InferqProcess): Promise<void> {
      const workerId = on === undefined ? undefined : InferqCluster.workerId(on);
      const submitting = cluster.submitMany(next, wave, { params: { delayMs: 50 }, retry: true, lanes: 8 });
      next += wave;
      await eventually(
        async () => expect(await cluster.running(workerId), 'tasks running').toBeGreaterThan(0),
        {
          timeoutMs: 50_000, // (within the test's 60 s)
          intervalMs: 20,
        },
      );
      await fault();
      const recovered = Date.now();
      await submitting;
      // After recovery, every worker gets work again.
      await cluster.submitMany(next, wave, { params: { delayMs: 50 }, retry: true, lanes: 8 });
      next += wave;
      await cluster.waitSettled();

      const outcomes = await cluster.outcomes();
      const stored = new Set(outcomes.map((t) => t.id));
      const lost = [...cluster.expected.keys()].filter((id) => !stored.has(id));
      expect(lost, 'accepted tasks missing from the store').toEqual([]);
      for (const task of outcomes) {
        expect(task.state, task.id).toBe('succeeded');
        expect(task.succeeded, `${task.id}: succeeded entries`).toBe(1);
        // A task created by a request that failed after the write has no expected hash: it
        // still ran to one result.
        if (cluster.expected.has(task.id)) expect(task.sha256, task.id).toBe(cluster.expected.get(task.id));
        else expect(task.sha256, task.id).toMatch(/^[0-9a-f]{64}$/);
      }
      const ran = await cluster.ranSince(recovered);
      for (const worker of cluster.workers) expect([...ran]).toContain(InferqCluster.workerId(worker));
      console.info(
        `${broker.name}: ${outcomes.length} tasks so far, all succeeded once; ${cluster.retriedSubmissions} submissions retried; ${outcomes.filter((t) => t.runs > 1).length} tasks ran more than once`,
      );
    }

    // PostgreSQL alone has no broker server of its own to restart: that case is the PostgreSQL
    // restart below, so it is not defined there (rather than listed as skipped).
    if (!alone)
      it(`${broker.name} restarts under load: nothing lost, nothing doubled`, async () => {
        await underLoad(async () => {
          await server!.stop();
          await sleep(outageMs);
          await server!.start();
        });
      }, 60_000);

    it('PostgreSQL restarts under load: nothing lost, nothing doubled', async () => {
      await underLoad(async () => {
        await postgres.stop('fast');
        await sleep(outageMs);
        await postgres.start();
      });
    }, 60_000);

    it("a worker's broker connection is cut mid-batch: nothing lost, nothing doubled", async () => {
      await underLoad(async () => {
        expect(proxy.cut()).toBeGreaterThan(0);
      }, proxied);
    }, 60_000);
  });
}
