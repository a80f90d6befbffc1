import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskJob } from '../../src/core/task-job.js';
import type { SqliteBroker } from '../../src/queue/sqlite/sqlite-broker.js';
import type { SqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.js';
import { processBatch } from '../../src/worker/process-batch.js';
import { openLayout, sqliteLayouts } from '../fixtures/sqlite-layouts.js';

const fixture = path.join(import.meta.dirname, '..', 'fixtures', 'crash-worker.ts');
const queue = 'echo@1';
const leaseMs = 300;
const perRound = 5;
const rounds = Number(process.env.CRASH_ROUNDS ?? 20);

for (const layout of sqliteLayouts) {
  let dir: string;
  let store: SqliteTaskStore;
  let broker: SqliteBroker;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'inferq-crash-'));
    ({ store, broker } = openLayout(dir, layout));
  });

  afterAll(async () => {
    await broker.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the victim, waits for its crash point, SIGKILLs it. */
  async function crashVictim(mode: 'after-claim' | 'after-complete'): Promise<number> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fixture, dir, mode, queue, String(perRound), String(leaseMs), layout],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const leased = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const match = /READY (\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.on('exit', (code) => reject(new Error(`victim exited early (${code}): ${stderr}`)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    return leased;
  }

  function completions(): string[] {
    const file = path.join(dir, 'completions.log');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
  }

  describe(`crash recovery (SIGKILL mid-batch, SQLite store + broker, ${layout})`, () => {
    it(`recovers ${rounds} killed workers with nothing lost and nothing doubled`, async () => {
      const ran: string[] = [];
      for (let round = 0; round < rounds; round++) {
        const mode = round % 2 === 0 ? 'after-claim' : 'after-complete';
        const tasks = await store.createTasks(
          Array.from({ length: perRound }, (_, i) => ({
            requestId: `round-${round}`,
            owner: 'crash-test',
            target: { kind: 'model' as const, name: 'echo', version: '1' },
            input: { sha256: `${round}`.padStart(64, '0'), size: 1, mediaType: 'text/plain' },
            params: { i },
            maxAttempts: 5,
          })),
        );
        await broker.enqueueMany(
          queue,
          tasks.map((t) => ({ id: t.id, payload: { taskId: t.id }, maxAttempts: 5 })),
        );

        expect(await crashVictim(mode)).toBe(perRound);

        // The lease is still held by the dead process: nothing can be leased until it expires.
        // Then a healthy worker (in this process) drains the queue.
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline) {
          await broker.reapExpiredLeases();
          const jobs = await broker.lease(queue, { max: 50, leaseMs: 5_000, waitMs: 100 });
          if (jobs.length > 0) {
            await processBatch(
              {
                store,
                broker,
                workerId: 'healthy',
                handler: async (items) => {
                  ran.push(...items.map((i) => i.task.id));
                  return items.map((item) => ({
                    ok: true as const,
                    result: { by: 'healthy', taskId: item.task.id },
                  }));
                },
                onSettled: (item, _o, written) => {
                  if (written) appendFileSync(path.join(dir, 'completions.log'), `${item.task.id}\n`);
                },
              },
              jobs,
            );
          }
          const depth = await broker.depth(queue);
          if (depth.waiting + depth.delayed + depth.leased === 0) break;
        }

        for (const task of tasks) {
          const stored = await store.getTask(task.id);
          expect(stored?.state, `round ${round} task ${task.id}`).toBe('succeeded');
          if (mode === 'after-claim') {
            // Claimed by the victim, run by the healthy worker on the second delivery.
            expect(stored?.attempts).toBe(2);
            expect(stored?.result).toEqual({ by: 'healthy', taskId: task.id });
            expect(stored?.timeline.map((e) => e.stage)).toContain('lease-expired');
          } else {
            // Written by the victim before it died: the redelivery acks without running again.
            expect(stored?.attempts).toBe(1);
            expect(stored?.result).toEqual({ by: 'victim', taskId: task.id });
            expect(ran).not.toContain(task.id);
          }
        }
      }

      const all = completions();
      expect(all.length).toBe(rounds * perRound);
      expect(new Set(all).size).toBe(rounds * perRound);
      expect(await broker.depth(queue)).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 0 });
      const counts = await store.countTasks({ owner: 'crash-test' });
      expect(counts).toEqual({
        queued: 0,
        running: 0,
        succeeded: rounds * perRound,
        failed: 0,
        cancelled: 0,
      });
    }, 180_000);

    it('fails a task whose every attempt was lost (a poison pill) with INFERQ_WORKER_LOST, without running it again', async () => {
      const poisonQueue = 'poison@1';
      const [task] = await store.createTasks([
        {
          requestId: 'poison',
          owner: 'poison-test',
          target: { kind: 'model', name: 'poison', version: '1' },
          input: { sha256: 'f'.repeat(64), size: 1, mediaType: 'text/plain' },
          params: {},
          maxAttempts: 2,
        },
      ]);
      await broker.enqueueMany(poisonQueue, [taskJob(task!)]);
      // Two workers take it in turn and die with it: task claimed, never settled, lease expired.
      for (let attempt = 1; attempt <= 2; attempt++) {
        const [job] = await broker.lease(poisonQueue, { max: 1, leaseMs: 50 });
        expect(job, `attempt ${attempt}`).toBeDefined();
        const [claim] = await store.claimTasks([
          { id: task!.id, leaseToken: job!.token, workerId: `lost-${attempt}`, leaseMs: 50 },
        ]);
        expect(claim?.claimed).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 80));
        await broker.reapExpiredLeases();
      }
      // The job comes once more, and the worker that gets it fails the task instead of running it.
      const jobs = await broker.lease(poisonQueue, { max: 1, leaseMs: 60_000 });
      expect(jobs).toHaveLength(1);
      let ran = false;
      const report = await processBatch(
        {
          store,
          broker,
          workerId: 'healthy',
          handler: async (items) => {
            ran = true;
            return items.map(() => ({ ok: true as const, result: {} }));
          },
        },
        jobs,
      );
      expect(ran).toBe(false);
      expect(report).toMatchObject({ failed: 1, succeeded: 0 });
      const stored = await store.getTask(task!.id);
      expect(stored).toMatchObject({ state: 'failed', error: { code: 'INFERQ_WORKER_LOST' } });
      expect(stored?.timeline.filter((e) => e.stage === 'lease-expired')).toHaveLength(2);
      expect(await broker.depth(poisonQueue)).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 0 });
    });
  });
}
