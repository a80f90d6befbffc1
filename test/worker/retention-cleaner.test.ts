import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BlobStore } from '../../src/blobs/blob-store.js';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import type { RetentionTaskStore } from '../../src/worker/housekeeping/retention-cleaner.js';
import { runRetention, startRetentionCleaner } from '../../src/worker/housekeeping/retention-cleaner.js';

const minute = 60_000;
const hour = 60 * minute;

interface FakeTask {
  inputSha256: string;
  finishedAt: number | undefined;
}

/** The two TaskStore methods retention uses, over an array; records the cutoffs it was given. */
class FakeTaskStore implements RetentionTaskStore {
  readonly cutoffs: number[] = [];
  /** When set, deleteFinishedBefore waits on it (to hold a pass in progress). */
  gate: Promise<void> | undefined;
  failNext: Error | undefined;

  constructor(public tasks: FakeTask[] = []) {}

  async deleteFinishedBefore(before: number): Promise<{ deletedTasks: number }> {
    this.cutoffs.push(before);
    await this.gate;
    if (this.failNext !== undefined) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    const kept = this.tasks.filter((t) => t.finishedAt === undefined || t.finishedAt >= before);
    const deletedTasks = this.tasks.length - kept.length;
    this.tasks = kept;
    return { deletedTasks };
  }

  async referencedInputs(sha256s: readonly string[]): Promise<Set<string>> {
    const used = new Set(this.tasks.map((t) => t.inputSha256));
    return new Set(sha256s.filter((s) => used.has(s)));
  }
}

/** A real pino logger writing JSON lines into an array. */
function captureLogger() {
  const lines: Array<{ level: number; msg: string; err?: { message: string } }> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

describe('runRetention', () => {
  let root: string;
  let clock: number;
  let blobs: FsBlobStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'inferq-retention-'));
    clock = 1_700_000_000_000;
    blobs = await FsBlobStore.open(root, { now: () => clock });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('deletes tasks past their TTL, then the inputs only they referenced', async () => {
    const t0 = clock;
    const expiredInput = await blobs.put(Buffer.from('input of an expired task'));
    const sharedInput = await blobs.put(Buffer.from('input of an expired and a live task'));
    const liveInput = await blobs.put(Buffer.from('input of a running task'));
    const store = new FakeTaskStore([
      { inputSha256: expiredInput.sha256, finishedAt: t0 + minute },
      { inputSha256: sharedInput.sha256, finishedAt: t0 + minute },
      { inputSha256: sharedInput.sha256, finishedAt: t0 + 47 * hour },
      { inputSha256: liveInput.sha256, finishedAt: undefined },
    ]);
    const now = t0 + 48 * hour;

    const result = await runRetention({ store, blobs, ttlMs: 24 * hour, graceMs: hour, now });

    expect(store.cutoffs).toEqual([now - 24 * hour]);
    expect(result).toMatchObject({ deletedTasks: 2, scanned: 3, deleted: 1, bytesFreed: expiredInput.size });
    expect(await blobs.stat(expiredInput.sha256)).toBeUndefined();
    expect(await blobs.stat(sharedInput.sha256)).toBeDefined();
    expect(await blobs.stat(liveInput.sha256)).toBeDefined();
  });

  it('keeps an unreferenced blob inside the grace period', async () => {
    const fresh = await blobs.put(Buffer.from('stored for a task not committed yet'));
    const result = await runRetention({
      store: new FakeTaskStore(),
      blobs,
      ttlMs: hour,
      graceMs: 10 * minute,
      now: clock + 5 * minute,
    });
    expect(result.deleted).toBe(0);
    expect(await blobs.stat(fresh.sha256)).toBeDefined();
  });
});

/**
 * An empty in-memory blob store: the scheduling tests below advance fake timers, which only
 * flush promise callbacks, so a pass must not wait on real I/O.
 */
const emptyBlobs: BlobStore = {
  kind: 'empty',
  put: async () => {
    throw new Error('not used');
  },
  stat: async () => undefined,
  read: async () => {
    throw new Error('not used');
  },
  readBytes: async () => {
    throw new Error('not used');
  },
  delete: async () => false,
  discardPut: async () => false,
  list: async function* () {},
  ping: async () => undefined,
  close: async () => undefined,
};

describe('startRetentionCleaner', () => {
  const blobs = emptyBlobs;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a pass per interval and never overlaps a slow pass', async () => {
    const store = new FakeTaskStore();
    let release!: () => void;
    store.gate = new Promise((resolve) => {
      release = resolve;
    });
    const cleaner = startRetentionCleaner({ store, blobs, ttlMs: hour, graceMs: minute, intervalMs: 1000 });

    await vi.advanceTimersByTimeAsync(0);
    expect(store.cutoffs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000); // ten intervals while the first pass hangs
    expect(store.cutoffs).toHaveLength(1);

    store.gate = undefined;
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(store.cutoffs).toHaveLength(1); // the next pass waits a full interval after the last
    await vi.advanceTimersByTimeAsync(1000);
    expect(store.cutoffs).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(store.cutoffs).toHaveLength(3);
    await cleaner.stop();
  });

  it('logs a failed pass and keeps running', async () => {
    const store = new FakeTaskStore();
    store.failNext = new Error('database is locked');
    const { logger, lines } = captureLogger();
    const cleaner = startRetentionCleaner({
      store,
      blobs,
      ttlMs: hour,
      graceMs: minute,
      intervalMs: 500,
      logger,
    });

    await vi.advanceTimersByTimeAsync(0);
    const failure = lines.find((l) => l.level === 50);
    expect(failure?.err?.message).toBe('database is locked');
    await vi.advanceTimersByTimeAsync(500);
    expect(store.cutoffs).toHaveLength(2);
    expect(lines.filter((l) => l.level === 50)).toHaveLength(1);
    await cleaner.stop();
  });

  it('stop waits for the pass in progress and schedules no more', async () => {
    const store = new FakeTaskStore();
    let release!: () => void;
    store.gate = new Promise((resolve) => {
      release = resolve;
    });
    const cleaner = startRetentionCleaner({ store, blobs, ttlMs: hour, graceMs: minute, intervalMs: 1000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(store.cutoffs).toHaveLength(1);

    let stopped = false;
    const stopping = cleaner.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(stopped).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(store.cutoffs).toHaveLength(1);
    await cleaner.stop(); // twice is fine
  });

  it('does not keep the process alive', async () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const cleaner = startRetentionCleaner({
      store: new FakeTaskStore(),
      blobs,
      ttlMs: hour,
      graceMs: minute,
      intervalMs: 1000,
    });
    const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    spy.mockRestore();
    await cleaner.stop();
  });
});

describe('retention settings', () => {
  it('refuses a negative grace period before deleting any task', async () => {
    const store = new FakeTaskStore([{ inputSha256: 'a'.repeat(64), finishedAt: 0 }]);
    await expect(runRetention({ store, blobs: emptyBlobs, ttlMs: 0, graceMs: -1, now: 1 })).rejects.toThrow(
      RangeError,
    );
    expect(store.cutoffs).toEqual([]);
    expect(() =>
      startRetentionCleaner({ store, blobs: emptyBlobs, ttlMs: Number.NaN, graceMs: 0, intervalMs: 1000 }),
    ).toThrow(RangeError);
  });
});
