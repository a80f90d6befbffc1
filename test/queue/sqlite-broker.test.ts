import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { BroadcastMessage } from '../../src/core/job.js';
import { isInferqError } from '../../src/errors/index.js';
import { queueMigrations } from '../../src/queue/sqlite/migrations.js';
import { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import { runBrokerContract } from '../contracts/broker.contract.js';

const brokerModule = fileURLToPath(new URL('../../src/queue/sqlite/sqlite-broker.ts', import.meta.url));

/**
 * A separate OS process that drains `queue` in batches and prints the ids it acked. It starts
 * leasing at `startAt`, so that processes spawned one after another lease at the same time.
 */
function drainInChildProcess(file: string, queue: string, startAt: number): Promise<string[]> {
  const code = `
    import { SqliteBroker } from ${JSON.stringify(brokerModule)};
    const broker = SqliteBroker.open(${JSON.stringify(file)});
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, ${startAt} - Date.now())));
    const ids = [];
    for (;;) {
      const jobs = await broker.lease(${JSON.stringify(queue)}, { max: 10, leaseMs: 60_000 });
      if (jobs.length === 0) break;
      for (const job of jobs) ids.push(job.id);
      if ((await broker.ack(jobs)) !== jobs.length) throw new Error('ack lost a lease');
      // A moment of "work" per batch, so the processes' claims interleave.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await broker.close();
    process.stdout.write(JSON.stringify(ids));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (status) => {
      if (status === 0) resolve(JSON.parse(stdout) as string[]);
      else reject(new Error(`child exited with ${status}: ${stderr}`));
    });
  });
}

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferq-broker-'));
  dirs.push(dir);
  return path.join(dir, 'queue.db');
}

runBrokerContract('SqliteBroker', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferq-broker-contract-'));
  const file = path.join(dir, 'queue.db');
  const broker = SqliteBroker.open(file, {
    pollIntervalMs: 20,
    backoff: { baseMs: 50, maxMs: 200, jitter: 0 },
  });
  return {
    broker,
    reopen: async () => SqliteBroker.open(file, { pollIntervalMs: 20 }),
    cleanup: async () => {
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteBroker (SQLite specifics)', () => {
  const open: SqliteBroker[] = [];
  const track = (broker: SqliteBroker): SqliteBroker => {
    open.push(broker);
    return broker;
  };

  afterEach(async () => {
    for (const broker of open.splice(0)) await broker.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps waiting, delayed, leased and dead jobs across a close and reopen', async () => {
    const file = tempFile();
    const first = SqliteBroker.open(file);
    await first.enqueueMany('q', [
      { id: 'w', payload: { keep: 'me' }, priority: 3 },
      { id: 'd', payload: 1, delayMs: 600_000 },
      { id: 'l', payload: 2 },
      { id: 'x', payload: 3, maxAttempts: 1 },
    ]);
    await first.lease('q', { max: 1, leaseMs: 600_000 }); // 'w' (priority 3)
    const [l, x] = await first.lease('q', { max: 2, leaseMs: 600_000 });
    expect([l!.id, x!.id]).toEqual(['l', 'x']);
    await first.nack(x!, { error: 'gone' });
    await first.enqueue('q', { id: 'w2', payload: { keep: 'me' } });
    await first.close();

    const second = track(SqliteBroker.open(file));
    expect(await second.depth('q')).toEqual({ waiting: 1, delayed: 1, leased: 2, dead: 1 });
    expect(await second.deadJobs('q')).toMatchObject([{ id: 'x', error: 'gone' }]);
    // A lease taken by the closed handle is still honoured by token.
    expect(await second.ack([l!])).toBe(1);
    const [w2] = await second.lease('q', { max: 5, leaseMs: 1_000 });
    expect(w2).toMatchObject({ id: 'w2', payload: { keep: 'me' }, attempts: 1 });
  });

  it('never gives one job to two processes leasing the same file at once', async () => {
    const file = tempFile();
    const broker = track(SqliteBroker.open(file));
    const total = 3_000;
    await broker.enqueueMany(
      'shared',
      Array.from({ length: total }, (_, i) => ({ payload: i })),
    );
    const startAt = Date.now() + 1_500;
    const perProcess = await Promise.all([1, 2, 3].map(() => drainInChildProcess(file, 'shared', startAt)));
    const all = perProcess.flat();
    expect(all).toHaveLength(total);
    expect(new Set(all).size).toBe(total);
    expect(await broker.depth('shared')).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 0 });
  });

  it('delivers a broadcast across two handles on one file, as two processes would', async () => {
    const file = tempFile();
    const a = track(SqliteBroker.open(file, { pollIntervalMs: 10 }));
    const b = track(SqliteBroker.open(file, { pollIntervalMs: 10 }));
    const atA: BroadcastMessage[] = [];
    const atB: BroadcastMessage[] = [];
    await a.subscribe('control', (m) => atA.push(m));
    await b.subscribe('control', (m) => atB.push(m));
    for (let n = 0; n < 20; n++) await (n % 2 === 0 ? a : b).publish('control', { type: 'cancel', n });
    await expect.poll(() => atA.length + atB.length, { timeout: 10_000 }).toBe(40);
    const expected = Array.from({ length: 20 }, (_, n) => n);
    expect(atA.map((m) => m.n)).toEqual(expected);
    expect(atB.map((m) => m.n)).toEqual(expected);
  });

  it('keeps delivering to other subscribers when one handler throws', async () => {
    const broker = track(SqliteBroker.open(tempFile(), { pollIntervalMs: 10 }));
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.message);
    };
    process.on('warning', onWarning);
    try {
      const received: BroadcastMessage[] = [];
      await broker.subscribe('c', () => {
        throw new Error('handler bug');
      });
      await broker.subscribe('c', (m) => received.push(m));
      await broker.publish('c', { type: 'one' });
      await broker.publish('c', { type: 'two' });
      await expect.poll(() => received.length).toBe(2);
      await expect.poll(() => warnings.some((w) => w.includes('handler bug'))).toBe(true);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('wakes a long-polling lease on an in-process enqueue without waiting for a poll', {
    timeout: 10_000,
  }, async () => {
    // With a poll interval far beyond the test timeout, only the in-process wake-up can deliver.
    const broker = track(SqliteBroker.open(tempFile(), { pollIntervalMs: 600_000 }));
    const pending = broker.lease('q', { max: 1, leaseMs: 60_000, waitMs: 600_000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await broker.enqueue('q', { id: 'now', payload: 1 });
    expect(await pending).toMatchObject([{ id: 'now' }]);
  });

  it('prunes broadcast messages older than broadcastRetentionMs', async () => {
    const file = tempFile();
    const publisher = track(SqliteBroker.open(file, { broadcastRetentionMs: 50 }));
    await publisher.publish('c', { type: 'old' });
    await new Promise((resolve) => setTimeout(resolve, 120));
    await publisher.publish('c', { type: 'new' });
    const log = new Database(file, { readonly: true });
    try {
      expect(log.prepare('SELECT message FROM broadcasts').all()).toEqual([{ message: '{"type":"new"}' }]);
    } finally {
      log.close();
    }
  });

  it('wakes leasers and subscribers on the other connections of this process (its other threads) at once', {
    timeout: 10_000,
  }, async () => {
    // `inferq serve` writes from its API thread and reads from its worker threads, each with its
    // own connection. With a poll interval far beyond the timeout, only the nudge can deliver.
    const file = tempFile();
    const api = track(SqliteBroker.open(file, { pollIntervalMs: 600_000 }));
    const worker = track(SqliteBroker.open(file, { pollIntervalMs: 600_000 }));
    const received: BroadcastMessage[] = [];
    await worker.subscribe('c', (m) => received.push(m));
    const pending = worker.lease('q', { max: 1, leaseMs: 60_000, waitMs: 600_000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await api.enqueue('q', { id: 'now', payload: 1 });
    expect(await pending).toMatchObject([{ id: 'now' }]);
    await api.publish('c', { type: 'cancel' });
    await expect.poll(() => received, { timeout: 5_000 }).toEqual([{ type: 'cancel' }]);
  });

  it('reaps expired leases on its own when reapIntervalMs is set', async () => {
    const broker = track(SqliteBroker.open(tempFile(), { reapIntervalMs: 20 }));
    await broker.enqueue('q', { id: 'j', payload: 1 });
    await broker.lease('q', { max: 1, leaseMs: 50 });
    const again = await broker.lease('q', { max: 1, leaseMs: 60_000, waitMs: 10_000 });
    expect(again).toMatchObject([{ id: 'j', attempts: 2 }]);
  });

  it('uses its backoff policy when nack gives no delay', async () => {
    const broker = track(
      SqliteBroker.open(tempFile(), { backoff: { baseMs: 600_000, maxMs: 600_000, jitter: 0 } }),
    );
    await broker.enqueue('q', { payload: 1 });
    const [job] = await broker.lease('q', { max: 1, leaseMs: 60_000 });
    expect(await broker.nack(job!, { error: 'x' })).toBe('retried');
    expect(await broker.depth('q')).toMatchObject({ waiting: 0, delayed: 1 });
    expect(await broker.lease('q', { max: 1, leaseMs: 60_000 })).toEqual([]);
  });

  it('ends a pending long poll on close and refuses calls afterwards', async () => {
    const broker = SqliteBroker.open(tempFile());
    const pending = broker.lease('q', { max: 1, leaseMs: 1_000, waitMs: 60_000 });
    await broker.close();
    expect(await pending).toEqual([]);
    await broker.close(); // idempotent
    const err = await broker.enqueue('q', { payload: 1 }).catch((e: unknown) => e);
    expect(isInferqError(err, 'INFERQ_BROKER_UNAVAILABLE')).toBe(true);
  });

  it('rejects a bad lease request and a payload that is not JSON', async () => {
    const broker = track(SqliteBroker.open(':memory:'));
    for (const request of [
      { max: 0, leaseMs: 1_000 },
      { max: 1_001, leaseMs: 1_000 },
      { max: 1, leaseMs: 0 },
    ]) {
      const err = await broker.lease('q', request).catch((e: unknown) => e);
      expect(isInferqError(err, 'INFERQ_VALIDATION_FAILED'), JSON.stringify(request)).toBe(true);
    }
    const err = await broker.enqueue('q', { payload: { n: 1n } }).catch((e: unknown) => e);
    expect(isInferqError(err, 'INFERQ_VALIDATION_FAILED')).toBe(true);
    // The failed enqueue left nothing behind.
    expect(await broker.depth('q')).toMatchObject({ waiting: 0 });
  });

  it('refuses a file that is not a SQLite database', () => {
    const file = tempFile();
    writeFileSync(file, 'not a database, just some text that is long enough');
    let err: unknown;
    try {
      SqliteBroker.open(file);
    } catch (e) {
      err = e;
    }
    expect(isInferqError(err, 'INFERQ_DATABASE_CORRUPT')).toBe(true);
  });

  it('upgrades a queue file from before fair shares: its waiting jobs are leased, in priority order', async () => {
    const file = tempFile();
    const old = new Database(file);
    old.exec(queueMigrations[0]!);
    old.exec(`CREATE TABLE inferq_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL);
      INSERT INTO inferq_schema VALUES ('queue', 1);`);
    const insert =
      old.prepare(`INSERT INTO jobs (queue, id, state, priority, run_at, payload, attempts, max_attempts, enqueued_at)
      VALUES ('q', ?, 0, ?, 0, '0', 0, 3, 0)`);
    insert.run('old-low', 0);
    insert.run('old-high', 5);
    old.close();
    const broker = track(SqliteBroker.open(file));
    await broker.enqueue('q', { id: 'new-b', payload: 0, tenant: 'b' });
    const leased = await broker.lease('q', { max: 10, leaseMs: 60_000 });
    expect(leased.map((j) => j.id).filter((id) => id.startsWith('old-'))).toEqual(['old-high', 'old-low']);
    expect(leased.map((j) => j.id)).toContain('new-b');
  });

  it('refuses a job tenant or weight it cannot keep', async () => {
    const broker = track(SqliteBroker.open(':memory:'));
    for (const job of [
      { payload: 0, weight: 0 },
      { payload: 0, weight: Number.NaN },
      { payload: 0, tenant: 'x'.repeat(201) },
    ]) {
      const err = await broker.enqueue('q', job).catch((e: unknown) => e);
      expect(isInferqError(err, 'INFERQ_VALIDATION_FAILED'), JSON.stringify(job)).toBe(true);
    }
  });
});
