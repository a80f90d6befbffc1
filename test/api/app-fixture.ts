import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { buildApp, type InferqApp } from '../../src/api/build-app.js';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { openStoreWithQueue } from '../../src/cli/open-embedded.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { CatalogEntry, ModelCatalog } from '../../src/core/model-catalog.js';
import type { ModelSpec } from '../../src/core/model-spec.js';
import { StaticModelCatalog } from '../../src/core/static-model-catalog.js';
import type { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { SqliteAuthStore } from '../../src/store/sqlite/sqlite-auth-store.js';
import type { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { taskRoles } from '../../src/store/task-database.js';
import type { WorkerRegistry } from '../../src/store/worker-registry.js';

const model = (spec: Partial<ModelSpec> & Pick<ModelSpec, 'name' | 'input'>): CatalogEntry => ({
  kind: 'model',
  name: spec.name,
  version: spec.version ?? '1',
  available: true,
  spec: { runtime: 'js', artifact: './m.js', version: '1', ...spec } as ModelSpec,
});

/** The models every API test can use: a file echo with a params schema, an image model, a text model. */
export const testCatalogEntries: CatalogEntry[] = [
  model({
    name: 'echo',
    version: '1.0.0',
    input: { kind: 'file', maxBytes: 1024 },
    params: {
      type: 'object',
      properties: { delayMs: { type: 'integer', minimum: 0 } },
      additionalProperties: false,
    },
    maxAttempts: 2,
  }),
  model({
    name: 'vision',
    input: { kind: 'image', mediaTypes: ['image/png', 'image/jpeg'], maxPixels: 10_000 },
  }),
  model({ name: 'words', input: { kind: 'text' } }),
];

export interface AppFixture {
  app: InferqApp;
  dir: string;
  store: SqliteTaskStore;
  broker: SqliteBroker;
  blobs: FsBlobStore;
  auth: SqliteAuthStore;
  /** A tenant `acme` user key, a `acme` admin key, and a `globex` user key. */
  keys: { user: string; admin: string; other: string };
  jwtSecret: string;
  close(): Promise<void>;
}

/** A real app over real SQLite and fs backends in a temp dir (no mocks). */
export async function createAppFixture(
  options: {
    config?: Record<string, unknown>;
    clock?: () => number;
    catalog?: ModelCatalog;
    workers?: WorkerRegistry;
    /** How often event streams and predict read the store without a wake-up (default 10 ms). */
    pollIntervalMs?: number;
    /** The app's logger (none by default). */
    logger?: FastifyBaseLogger;
  } = {},
): Promise<AppFixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inferq-api-'));
  const config = loadConfig({ cwd: dir, env: {}, overrides: { dataDir: dir, ...options.config } });
  // The embedded default layout: the queue in the task database, each task written with its job.
  const { store, broker } = openStoreWithQueue(path.join(dir, 'inferq.db'), { reapIntervalMs: 60_000 });
  const blobs = await FsBlobStore.open(path.join(dir, 'blobs'));
  const auth = SqliteAuthStore.open(path.join(dir, 'auth.db'));
  const jwtSecret = 'x'.repeat(48);
  const app = await buildApp({
    config,
    ...taskRoles(store),
    broker,
    jobsWrittenByStore: true,
    blobs,
    auth,
    catalog: options.catalog ?? new StaticModelCatalog(testCatalogEntries),
    jwtSecret,
    pollIntervalMs: options.pollIntervalMs ?? 10,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.workers ? { workers: options.workers } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const keys = {
    user: (await auth.createApiKey({ tenant: 'acme' })).key,
    admin: (await auth.createApiKey({ tenant: 'acme', admin: true })).key,
    other: (await auth.createApiKey({ tenant: 'globex' })).key,
  };
  return {
    app,
    dir,
    store,
    broker,
    blobs,
    auth,
    keys,
    jwtSecret,
    async close() {
      await app.close();
      await auth.close();
      await blobs.close();
      await broker.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** A multipart body as a browser or curl would send it. */
export async function multipart(
  parts: Array<[string, string] | [string, Uint8Array, string]>,
): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const form = new FormData();
  for (const part of parts) {
    if (part.length === 2) form.append(part[0], part[1]);
    else form.append(part[0], new Blob([part[1]]), part[2]);
  }
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  return {
    payload: Buffer.from(await request.arrayBuffer()),
    headers: { 'content-type': request.headers.get('content-type')! },
  };
}

/** Submits one echo task as the fixture's user; its id. */
export async function submitOne(f: AppFixture, text: string): Promise<string> {
  const res = await f.app.inject({
    method: 'POST',
    url: '/v1/tasks',
    headers: bearer(f.keys.user),
    payload: { target: 'echo', text },
  });
  return (res.json() as { tasks: Array<{ id: string }> }).tasks[0]!.id;
}

/** Plays the worker's part in the store: claim, then complete or fail. */
export async function finishTask(
  f: AppFixture,
  id: string,
  outcome: { result: unknown } | { error: { code: string; message: string } },
): Promise<void> {
  const token = `lease-${id}`;
  const claim = await f.store.claimTask(id, { leaseToken: token, workerId: 'test-worker' });
  if (!claim.claimed) throw new Error(`cannot claim ${id}`);
  if ('result' in outcome) await f.store.completeTask(id, { leaseToken: token, result: outcome.result });
  else await f.store.failTask(id, { leaseToken: token, error: outcome.error, retry: false });
}

/** A worker's heartbeat as `inferq worker` sends it, serving `models` (`name@version`). */
export const workerBeat = (
  id: string,
  models: string[],
  startedAt: number,
  state: 'running' | 'draining' = 'running',
) => ({ id, host: 'h', pid: 1, models, inFlight: 0, version: 't', state, startedAt });
