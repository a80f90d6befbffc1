import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPipeline } from '../../src/core/check-pipeline.js';
import type { CatalogEntry } from '../../src/core/model-catalog.js';
import type { PipelineSpec } from '../../src/core/pipeline-spec.js';
import { StaticModelCatalog } from '../../src/core/static-model-catalog.js';
import { SqliteWorkerRegistry } from '../../src/store/sqlite/sqlite-worker-registry.js';
import { type AppFixture, bearer, createAppFixture, testCatalogEntries, workerBeat } from './app-fixture.js';

// A pipeline whose one step runs `words`: served only when a worker runs words as well.
const spec: PipelineSpec = {
  name: 'shout',
  version: '1',
  steps: [{ id: 'say', model: 'words', from: '$input' }],
  output: 'say',
};
const pipeline: CatalogEntry = {
  kind: 'pipeline',
  name: 'shout',
  version: '1',
  spec,
  available: true,
  pipeline: checkPipeline(spec, 'shout.yaml', (ref) =>
    ref.split('@')[0] === 'words' ? { name: 'words', version: '1', inputKind: 'text' } : undefined,
  ),
};

let f: AppFixture;
let registry: SqliteWorkerRegistry;
let dir: string;
// Real time, moved forward by the tests: a predict waits on it.
let skew = 0;
const clock = () => Date.now() + skew;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-no-worker-'));
  registry = SqliteWorkerRegistry.open(path.join(dir, 'workers.db'));
  f = await createAppFixture({
    workers: registry,
    clock,
    catalog: new StaticModelCatalog([...testCatalogEntries, pipeline]),
  });
});

afterAll(async () => {
  await f.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

const beat = (id: string, models: string[]) =>
  registry.heartbeat(workerBeat(id, models, clock() - 60_000), clock());
const submit = (body: unknown) =>
  f.app.inject({ method: 'POST', url: '/v1/tasks', payload: body as object, headers: bearer(f.keys.user) });

describe('POST /v1/tasks: targets no live worker serves', () => {
  it('accepts the tasks and warns per target, naming what has no worker, until a worker serves it', async () => {
    const alone = await submit({ targets: ['echo', 'shout'], text: 'anyone there?' });
    expect(alone.statusCode).toBe(202);
    expect(alone.json().tasks.map((t: { state: string }) => t.state)).toEqual(['queued', 'queued']);
    expect(alone.json().warnings).toEqual([
      expect.objectContaining({ code: 'INFERQ_NO_WORKER', target: 'echo@1.0.0', unserved: 'echo@1.0.0' }),
      expect.objectContaining({ code: 'INFERQ_NO_WORKER', target: 'shout@1', unserved: 'shout@1' }),
      expect.objectContaining({ code: 'INFERQ_NO_WORKER', target: 'shout@1', unserved: 'words@1' }),
    ]);
    expect(alone.json().warnings[0].message).toMatch(/^no worker serves echo@1\.0\.0 now: .*queued/);

    // A worker runs echo and coordinates shout, but none runs words: only the step is named.
    await beat('w1', ['echo@1.0.0', 'shout@1']);
    skew += 2_001; // past the submissions' 2 s view of the registry
    const partly = await submit({ targets: ['echo', 'shout'], text: 'better?' });
    expect(partly.json().warnings).toEqual([
      expect.objectContaining({ target: 'shout@1', unserved: 'words@1' }),
    ]);
    expect(partly.json().warnings[0].message).toContain('a step of shout@1');

    await beat('w2', ['words@1']);
    skew += 2_001;
    const served = await submit({ targets: ['echo', 'shout'], text: 'all served' });
    expect(served.statusCode).toBe(202);
    expect(served.json()).not.toHaveProperty('warnings');
  });

  it('does not warn about a target whose tasks are all answered already (result cache)', async () => {
    await registry.remove('w1');
    await registry.remove('w2');
    skew += 2_001;
    const [first] = (await submit({ target: 'words', text: 'cached' })).json().tasks;
    const lease = await f.broker.lease('words@1', { max: 1, leaseMs: 10_000 });
    await f.store.claimTask(first.id, { leaseToken: lease[0]!.token, workerId: 'w' });
    await f.store.completeTask(first.id, { leaseToken: lease[0]!.token, result: { n: 1 } });
    const again = await submit({ target: 'words', text: 'cached' });
    expect(again.json().tasks[0]).toMatchObject({ cached: true, state: 'succeeded' });
    expect(again.json()).not.toHaveProperty('warnings');
    expect((await submit({ target: 'words', text: 'not cached' })).json().warnings).toHaveLength(1);
  });
});

describe('POST /v1/models/{name}/predict with no worker for the model', () => {
  it('times out saying why: no worker serves it', async () => {
    await registry.remove('w1');
    skew += 2_001;
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/models/echo/predict?timeoutMs=50',
      payload: { text: 'waiting in vain' },
      headers: bearer(f.keys.user),
    });
    expect(res.statusCode).toBe(504);
    expect(res.json().error).toMatchObject({ code: 'INFERQ_PREDICT_TIMEOUT', details: { noWorker: true } });
    expect(res.json().error.message).toContain('no worker serves echo@1.0.0 now');
  });
});
