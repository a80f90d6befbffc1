import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteWorkerRegistry } from '../../src/store/sqlite/sqlite-worker-registry.js';
import { type AppFixture, bearer, createAppFixture, workerBeat } from './app-fixture.js';

let f: AppFixture;
let registry: SqliteWorkerRegistry;
let dir: string;
const now = 1_800_000_000_000;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'inferq-models-workers-'));
  registry = SqliteWorkerRegistry.open(path.join(dir, 'workers.db'));
  f = await createAppFixture({ workers: registry, clock: () => now });
});

afterAll(async () => {
  await f.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

const beat = (id: string, models: string[], state: 'running' | 'draining' = 'running') =>
  workerBeat(id, models, now - 60_000, state);

describe('GET /v1/models: workers serving each model', () => {
  it('counts live, running workers per model; stale and draining ones do not serve', async () => {
    await registry.heartbeat(beat('w1', ['echo@1.0.0']), now - 1_000);
    await registry.heartbeat(beat('w2', ['echo@1.0.0']), now - 2_000);
    await registry.heartbeat(beat('w3', ['echo@1.0.0']), now - 60_000); // stale: stopped beating
    await registry.heartbeat(beat('w4', ['echo@1.0.0'], 'draining'), now - 1_000);

    const list = await f.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(f.keys.user) });
    expect(list.statusCode).toBe(200);
    const byRef = new Map(
      (list.json() as { items: { ref: string; workers: number | null }[] }).items.map((m) => [
        m.ref,
        m.workers,
      ]),
    );
    expect(byRef.get('echo@1.0.0')).toBe(2);
    for (const [ref, workers] of byRef) if (ref !== 'echo@1.0.0') expect(workers).toBe(0);

    const one = await f.app.inject({ method: 'GET', url: '/v1/models/echo', headers: bearer(f.keys.user) });
    expect(one.json()).toMatchObject({ ref: 'echo@1.0.0', workers: 2, cache: true });
  });
});
