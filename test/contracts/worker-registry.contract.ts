import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkerHeartbeat, WorkerRegistry } from '../../src/store/worker-registry.js';

/**
 * Builds a fresh, empty registry for one test; `open` gives another handle on the same data (what
 * an API host sees of a worker host's beats), closed by the contract; `cleanup` disposes of it all.
 */
export type WorkerRegistryFactory = () => Promise<{
  registry: WorkerRegistry;
  open(): Promise<WorkerRegistry>;
  cleanup(): Promise<void>;
}>;

/** A worker's heartbeat, every optional field filled. */
export const heartbeat = (id: string, extra: Partial<WorkerHeartbeat> = {}): WorkerHeartbeat => ({
  id,
  host: 'host-1',
  pid: 4242,
  models: ['echo@1.0.0', 'ocr-det@1'],
  inFlight: 0,
  version: '0.1.0',
  state: 'running',
  startedAt: 1_000,
  providers: { 'ocr-det@1': 'cpu' },
  realtime: 'tcp://10.0.0.7:5555',
  unavailable: { 'ocr-rec@1': 'artifact missing' },
  ...extra,
});

/** The behaviour every WorkerRegistry adapter must have (hono's common.case style). */
export function runWorkerRegistryContract(name: string, factory: WorkerRegistryFactory): void {
  describe(`WorkerRegistry contract: ${name}`, () => {
    let registry: WorkerRegistry;
    let open: () => Promise<WorkerRegistry>;
    let cleanup: () => Promise<void>;
    const handles: WorkerRegistry[] = [];
    beforeEach(async () => {
      ({ registry, open, cleanup } = await factory());
    });
    afterEach(async () => {
      for (const handle of handles.splice(0)) await handle.close();
      await cleanup();
    });
    const another = async () => {
      const handle = await open();
      handles.push(handle);
      return handle;
    };

    it('an empty registry lists no workers', async () => {
      expect(await registry.list()).toEqual([]);
    });

    it('a heartbeat is listed as sent, every field kept, with the time it was seen', async () => {
      const beat = heartbeat('w1');
      await registry.heartbeat(beat, 10);
      expect(await registry.list()).toEqual([{ ...beat, lastSeenAt: 10 }]);
      // Optional fields left out stay out.
      const bare: WorkerHeartbeat = { ...heartbeat('w2') };
      delete bare.providers;
      delete bare.realtime;
      delete bare.unavailable;
      await registry.heartbeat(bare, 11);
      expect((await registry.list())[1]).toEqual({ ...bare, lastSeenAt: 11 });
    });

    it('a heartbeat without a time is stamped with the clock', async () => {
      const before = Date.now();
      await registry.heartbeat(heartbeat('w1'));
      const after = Date.now();
      const [seen] = await registry.list();
      expect(seen!.lastSeenAt).toBeGreaterThanOrEqual(before);
      expect(seen!.lastSeenAt).toBeLessThanOrEqual(after);
    });

    it('a later heartbeat of the same worker replaces its row: one entry, the latest fields and time', async () => {
      await registry.heartbeat(heartbeat('w1'), 10);
      await registry.heartbeat(
        heartbeat('w1', { inFlight: 3, state: 'draining', models: ['echo@1.0.0'] }),
        20,
      );
      expect(await registry.list()).toEqual([
        { ...heartbeat('w1', { inFlight: 3, state: 'draining', models: ['echo@1.0.0'] }), lastSeenAt: 20 },
      ]);
    });

    it('a worker that stops beating keeps its last time (readers judge staleness from it)', async () => {
      await registry.heartbeat(heartbeat('alive'), 100);
      await registry.heartbeat(heartbeat('dead'), 100);
      await registry.heartbeat(heartbeat('alive'), 5_000);
      expect((await registry.list()).map((w) => [w.id, w.lastSeenAt])).toEqual([
        ['alive', 5_000],
        ['dead', 100],
      ]);
    });

    it('lists by id in byte order, the same on every backend', async () => {
      for (const id of ['b', 'a', 'B', 'a-2', 'A']) await registry.heartbeat(heartbeat(id), 1);
      expect((await registry.list()).map((w) => w.id)).toEqual(['A', 'B', 'a', 'a-2', 'b']);
    });

    it('remove forgets one worker; removing an unknown one is harmless', async () => {
      await registry.heartbeat(heartbeat('w1'), 1);
      await registry.heartbeat(heartbeat('w2'), 1);
      await registry.remove('w1');
      await registry.remove('never-seen');
      expect((await registry.list()).map((w) => w.id)).toEqual(['w2']);
    });

    it('prune forgets the workers seen before the cutoff, keeps the rest, and counts what it removed', async () => {
      await registry.heartbeat(heartbeat('old'), 5);
      await registry.heartbeat(heartbeat('older'), 1);
      await registry.heartbeat(heartbeat('at-cutoff'), 10);
      await registry.heartbeat(heartbeat('new'), 20);
      expect(await registry.prune(10)).toBe(2);
      expect((await registry.list()).map((w) => w.id)).toEqual(['at-cutoff', 'new']);
      expect(await registry.prune(10)).toBe(0);
    });

    it('another handle on the same data sees every beat, removal and prune', async () => {
      const reader = await another();
      await registry.heartbeat(heartbeat('w1'), 10);
      await registry.heartbeat(heartbeat('w2'), 30);
      expect((await reader.list()).map((w) => w.id)).toEqual(['w1', 'w2']);
      expect(await reader.prune(20)).toBe(1);
      await reader.remove('w2');
      expect(await registry.list()).toEqual([]);
    });

    it('close is safe to call twice', async () => {
      const handle = await open();
      await handle.close();
      await handle.close();
    });
  });
}
