import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import type { CompiledPipeline } from '../../src/core/check-pipeline.js';
import { newId } from '../../src/core/ids.js';
import type { JobInput } from '../../src/core/job.js';
import type { TaskWithTimeline } from '../../src/core/task.js';
import { isFinalState } from '../../src/core/task-state.js';
import type { Broker } from '../../src/queue/broker.js';
import { PostgresBroker } from '../../src/queue/postgres/postgres-broker.js';
import { RabbitMqBroker } from '../../src/queue/rabbitmq/rabbitmq-broker.js';
import { RedisBroker } from '../../src/queue/redis/redis-broker.js';
import { bundledModelsDir, ModelRepository } from '../../src/runtime/model-repository.js';
import { readPipelines } from '../../src/runtime/read-pipelines.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { PostgresTaskStore } from '../../src/store/postgres/postgres-task-store.js';
import { loadRuntimes } from '../../src/worker/load-runtimes.js';
import { ModelWorker } from '../../src/worker/model-worker.js';
import { createParentNotifier } from '../../src/worker/pipeline/notify-parents.js';
import { PipelineCoordinator } from '../../src/worker/pipeline/pipeline-coordinator.js';
import type { OcrLine } from '../../src/worker/pipeline/pipeline-transforms.js';
import { type BrokerKind, brokerNamespace } from '../fixtures/broker-namespace.js';
import { eventually } from '../fixtures/eventually.js';
import { freshSchema, testPostgresUrl } from '../fixtures/pg-schema.js';
import { renderText, type TextLine } from '../fixtures/render-text.js';

// The `ocr` pipeline on the distributed backends: PostgreSQL tasks with Redis, RabbitMQ or
// PostgreSQL (the task store's own schema) queues, the real PP-OCRv4 models, and every job delivered twice. The coordinator's broker
// enqueues each job once more under a fresh id (what a broker that cannot dedupe by id holds
// after the coordinator re-enqueues a step still queued), and the pipeline task is enqueued
// twice. The task row is the lease: each step still runs once, at attempt 1.
const serverUrls: Record<BrokerKind, string | undefined> = {
  redis: process.env.TEST_REDIS_URL,
  rabbitmq: process.env.TEST_AMQP_URL,
  postgres: testPostgresUrl,
};
const pipelineQueue = 'ocr@1.0.0';

const page: TextLine[] = [
  { text: 'Durable async inference', x: 40, y: 80, size: 52 },
  { text: 'Upside down text', x: 560, y: 200, size: 48, rotate: 180 },
];

/** The broker, except that every job it enqueues is enqueued a second time under a fresh id. */
function doublingBroker(real: Broker): Broker {
  const twice = (jobs: readonly JobInput[]) => [...jobs, ...jobs.map((job) => ({ ...job, id: newId() }))];
  return new Proxy(real, {
    get(target, key, receiver) {
      if (key === 'enqueueMany') {
        return (queue: string, jobs: readonly JobInput[]) => target.enqueueMany(queue, twice(jobs));
      }
      if (key === 'enqueue') {
        return async (queue: string, job: JobInput) => (await target.enqueueMany(queue, twice([job])))[0]!;
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function openBroker(kind: BrokerKind, url: string, prefix: string): Promise<Broker> {
  const backoff = { baseMs: 50, maxMs: 200, jitter: 0 };
  if (kind === 'postgres') return PostgresBroker.open(url, { schema: prefix, reapIntervalMs: 200, backoff });
  return kind === 'redis'
    ? RedisBroker.open(url, { prefix, reapIntervalMs: 200, backoff })
    : RabbitMqBroker.open(url, { prefix, backoff });
}

let dir: string;
let pipelines: CompiledPipeline[];
let runtimes: Runtime[];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-dist-pipeline-'));
  const repository = new ModelRepository(bundledModelsDir);
  ({ pipelines } = await readPipelines(bundledModelsDir, await repository.list()));
  const loaded = await loadRuntimes(repository, { only: ['ocr-det', 'ocr-cls', 'ocr-rec'] });
  expect(loaded.unavailable).toEqual({});
  runtimes = loaded.runtimes;
}, 60_000);

afterAll(async () => {
  await Promise.all((runtimes ?? []).map((r) => r.unload()));
  rmSync(dir, { recursive: true, force: true });
});

for (const kind of ['redis', 'rabbitmq', 'postgres'] as const) {
  const serverUrl = serverUrls[kind];
  const skip = serverUrl === undefined || testPostgresUrl === undefined;
  describe.skipIf(skip)(
    skip
      ? `ocr pipeline on PostgreSQL + ${kind}: TEST_POSTGRES_URL or the ${kind} URL is unset`
      : `ocr pipeline on PostgreSQL + ${kind}`,
    () => {
      it('reads the page, each step running once at attempt 1 though every job is delivered twice', async () => {
        const schema = await freshSchema(testPostgresUrl!);
        const namespace = brokerNamespace(kind, serverUrl!);
        const store = await PostgresTaskStore.open(testPostgresUrl!, { schema: schema.schema });
        // PostgreSQL alone: the queue's tables beside the tasks, in the store's schema.
        const broker = await openBroker(
          kind,
          serverUrl!,
          kind === 'postgres' ? schema.schema : namespace.prefix,
        );
        const blobs = await FsBlobStore.open(path.join(dir, kind));
        const doubled = doublingBroker(broker);
        const worker = new ModelWorker({
          store,
          broker,
          blobs,
          runtimes,
          leaseMs: 2_000,
          version: 'test',
          workerId: `models-${kind}`,
          notifyParents: createParentNotifier({ store, broker }),
        });
        const coordinator = new PipelineCoordinator({
          store,
          broker: doubled,
          blobs,
          pipelines,
          workerId: `coordinator-${kind}`,
          leaseMs: 2_000,
        });
        try {
          await worker.start();
          coordinator.start();
          const blob = await blobs.put(await renderText(page, { width: 1000, height: 240 }));
          const id = newId();
          await store.createTasks([
            {
              id,
              requestId: 'r',
              owner: 'tenant-a',
              target: { kind: 'pipeline', name: 'ocr', version: '1.0.0' },
              input: { sha256: blob.sha256, size: blob.size, mediaType: blob.mediaType },
            },
          ]);
          await doubled.enqueue(pipelineQueue, { id, payload: { taskId: id } });

          const task = await final(store, id);
          expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
          expect((task.result as { lines: OcrLine[] }).lines.map((l) => l.text)).toEqual(
            page.map((l) => l.text),
          );
          expect(task.timeline.filter((e) => e.stage === 'succeeded')).toHaveLength(1);
          const children = await store.listChildTasks(id);
          const models = children.filter((c) => c.target.kind === 'model');
          // The upside-down line ("180") is also read the other way round (rec-other).
          expect(models.map((c) => c.parent!.stepId).sort()).toEqual([
            'cls',
            'cls',
            'det',
            'rec',
            'rec',
            'rec-other',
          ]);
          for (const child of models) {
            const stored = (await store.getTask(child.id))!;
            expect(stored, child.parent!.stepId).toMatchObject({ state: 'succeeded', attempts: 1 });
            const stages = stored.timeline.map((e) => e.stage);
            expect(stages, JSON.stringify(stored.timeline)).toEqual([
              'created',
              'queued',
              'running',
              'succeeded',
            ]);
          }
          // Every copy comes back after the lease it met, finds its task final and is acked.
          const queues = [pipelineQueue, 'ocr-det@4.0.0', 'ocr-cls@2.0.0', 'ocr-rec@4.0.0'];
          await drained(broker, queues);
          for (const queue of queues) expect((await broker.depth(queue)).dead, queue).toBe(0);
        } finally {
          await coordinator.stop();
          await worker.stop();
          await blobs.close();
          await broker.close();
          await store.close();
          await namespace.cleanup();
          await schema.drop();
        }
      }, 120_000);
    },
  );
}

async function final(store: PostgresTaskStore, id: string): Promise<TaskWithTimeline> {
  return eventually(
    async () => {
      const task = await store.getTask(id);
      expect(task !== undefined && isFinalState(task.state), `task ${id} still ${task?.state}`).toBe(true);
      return task!;
    },
    { timeoutMs: 90_000 },
  );
}

async function drained(broker: Broker, queues: readonly string[]): Promise<void> {
  await eventually(
    async () => {
      const depths = await Promise.all(queues.map((q) => broker.depth(q)));
      const busy = depths.filter((d) => d.waiting + d.delayed + d.leased > 0);
      expect(busy, `queues not drained: ${JSON.stringify(depths)}`).toEqual([]);
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}
