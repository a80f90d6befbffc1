import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import type { BroadcastMessage, LeasedJob } from '../../src/core/job.js';
import { isInferqError } from '../../src/errors/index.js';
import type { Broker, BrokerCapabilities } from '../../src/queue/broker.js';
import { eventually } from '../fixtures/eventually.js';
import { defineFairShareContract } from './broker-fair-shares.contract.js';

/** What each adapter's test file hands the contract: a fresh broker per test. */
export interface BrokerFixture {
  broker: Broker;
  /** Closes the broker (and any server or file the factory made). */
  cleanup(): Promise<void>;
  /** A second handle on the same queues, as another process would have. */
  reopen?: () => Promise<Broker>;
}

export interface BrokerContractOptions {
  /** Test title → why this adapter cannot pass it. The reason is printed in the skipped title. */
  skip?: Record<string, string>;
}

type Capability = keyof BrokerCapabilities;

let queueCounter = 0;
const runId = randomBytes(3).toString('hex');

/** Every test owns its queue (and channel) names, so adapters sharing a server never mix tests. */
function uniqueName(prefix = 'contract'): string {
  queueCounter += 1;
  return `${prefix}-${runId}-${queueCounter}-${randomBytes(3).toString('hex')}`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A generous limit for deliveries, so slow machines wait rather than fail. */
const delivered = { timeoutMs: 10_000, intervalMs: 20 };

const longLease = 60_000;
/** Short enough to expire in a test, long enough that a lease is live while the test acts on it. */
const shortLease = 200;

/**
 * The semantics every `Broker` adapter must honour, as one suite (Hono's common.case.test.ts
 * style). An adapter's test file calls this with a factory; tests that need a capability skip
 * with the reason when the adapter declares it lacks it, and `options.skip` names any other test
 * the adapter cannot pass, with a written reason.
 */
export function runBrokerContract(
  name: string,
  factory: () => Promise<BrokerFixture>,
  options: BrokerContractOptions = {},
): void {
  describe(`Broker contract: ${name}`, () => {
    let fixture: BrokerFixture;
    let broker: Broker;
    const extraHandles: Broker[] = [];

    beforeEach(async () => {
      fixture = await factory();
      broker = fixture.broker;
    });

    afterEach(async () => {
      for (const handle of extraHandles.splice(0)) await handle.close();
      await fixture.cleanup();
    });

    function contract(
      title: string,
      needs: readonly Capability[],
      body: (ctx: TestContext) => Promise<void>,
    ) {
      const reason = options.skip?.[title];
      if (reason !== undefined) {
        it.skip(`${title} [skipped for ${name}: ${reason}]`, () => {});
        return;
      }
      it(title, async (ctx) => {
        for (const capability of needs) {
          if (!broker.capabilities[capability]) {
            const why = broker.missingCapabilities?.[capability];
            ctx.skip(`${name} declares no '${capability}' capability${why === undefined ? '' : `: ${why}`}`);
          }
        }
        await body(ctx);
      });
    }

    async function secondHandle(ctx: TestContext): Promise<Broker> {
      if (fixture.reopen === undefined) ctx.skip(`${name} offers no second handle (reopen)`);
      const handle = await fixture.reopen!();
      extraHandles.push(handle);
      return handle;
    }

    const lease = (queue: string, max = 10, leaseMs = longLease, waitMs = 0): Promise<LeasedJob[]> =>
      broker.lease(queue, { max, leaseMs, waitMs });

    /** Checks hasLiveJob where the adapter can answer it; tests whose point is elsewhere go on without. */
    const expectLive = async (queue: string, id: string, live: boolean): Promise<void> => {
      if (broker.capabilities.liveJobLookup) expect(await broker.hasLiveJob(queue, id)).toBe(live);
    };

    // --- capabilities and health ---

    contract('declares every capability as a boolean and answers ping', [], async () => {
      for (const key of [
        'priorities',
        'delayedJobs',
        'dedupeById',
        'deadLetterInspection',
        'broadcast',
        'distributed',
        'liveJobLookup',
        'fairShares',
      ] as const) {
        expect(typeof broker.capabilities[key], key).toBe('boolean');
      }
      expect(typeof broker.kind).toBe('string');
      await expect(broker.ping()).resolves.toBeUndefined();
    });

    // --- enqueue ---

    contract('enqueue returns the given id or a new one; the payload round-trips', [], async () => {
      const queue = uniqueName();
      const payload = { task: 't1', nested: { list: [1, 'two', null, true] }, text: 'é ✓' };
      const given = await broker.enqueue(queue, { id: 'job-given-1', payload });
      const generated = await broker.enqueue(queue, { payload: 'plain' });
      expect(given).toBe('job-given-1');
      expect(typeof generated).toBe('string');
      expect(generated).not.toBe(given);

      const jobs = await lease(queue);
      expect(jobs.map((j) => j.id)).toEqual([given, generated]);
      expect(jobs[0]!.payload).toEqual(payload);
      expect(jobs[1]!.payload).toBe('plain');
      expect(jobs[0]!.queue).toBe(queue);
    });

    contract('enqueueMany returns ids in input order and every job waits', [], async () => {
      const queue = uniqueName();
      const ids = await broker.enqueueMany(queue, [
        { payload: 0 },
        { id: 'many-b', payload: 1 },
        { payload: 2 },
      ]);
      expect(ids).toHaveLength(3);
      expect(ids[1]).toBe('many-b');
      expect(new Set(ids).size).toBe(3);
      expect(await broker.depth(queue)).toMatchObject({ waiting: 3, leased: 0, dead: 0 });
      expect(await broker.enqueueMany(queue, [])).toEqual([]);
      const jobs = await lease(queue);
      expect(jobs.map((j) => j.id)).toEqual(ids);
      expect(jobs.map((j) => j.payload)).toEqual([0, 1, 2]);
    });

    contract('rejects an invalid queue name with INFERQ_QUEUE_NAME_INVALID', [], async () => {
      for (const bad of ['', 'has space', '-leading-dash', 'x'.repeat(201), 'slash/name']) {
        const calls: Array<() => Promise<unknown>> = [
          () => broker.enqueue(bad, { payload: 1 }),
          () => broker.enqueueMany(bad, [{ payload: 1 }]),
          () => broker.lease(bad, { max: 1, leaseMs: 1_000 }),
          () => broker.depth(bad),
        ];
        for (const call of calls) {
          const err = await call().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(isInferqError(err, 'INFERQ_QUEUE_NAME_INVALID'), `queue ${JSON.stringify(bad)}`).toBe(true);
        }
      }
    });

    contract('queues are isolated from each other', [], async () => {
      const a = uniqueName();
      const b = uniqueName();
      await broker.enqueue(a, { id: 'same-id', payload: 'a' });
      await broker.enqueue(b, { id: 'same-id', payload: 'b' });
      expect((await lease(b)).map((j) => j.payload)).toEqual(['b']);
      expect((await lease(b)).length).toBe(0);
      expect(await broker.depth(a)).toMatchObject({ waiting: 1, leased: 0 });
      expect((await lease(a)).map((j) => j.payload)).toEqual(['a']);
    });

    contract('enqueueing a live id again adds no duplicate', ['dedupeById'], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { id: 'dup', payload: 'first' });
      expect(await broker.enqueue(queue, { id: 'dup', payload: 'second' })).toBe('dup');
      expect(
        await broker.enqueueMany(queue, [
          { id: 'dup', payload: 'third' },
          { id: 'other', payload: 1 },
        ]),
      ).toEqual(['dup', 'other']);
      expect(
        await broker.enqueueMany(queue, [
          { id: 'twice', payload: 1 },
          { id: 'twice', payload: 2 },
        ]),
      ).toEqual(['twice', 'twice']);
      expect((await broker.depth(queue)).waiting).toBe(3);

      const jobs = await lease(queue);
      expect(jobs.map((j) => [j.id, j.payload])).toEqual([
        ['dup', 'first'],
        ['other', 1],
        ['twice', 1],
      ]);
      // Leased is live too.
      await broker.enqueue(queue, { id: 'dup', payload: 'while leased' });
      expect(await broker.depth(queue)).toMatchObject({ waiting: 0, leased: 3 });
      // Once acked, the id is free again.
      await broker.ack(jobs);
      await broker.enqueue(queue, { id: 'dup', payload: 'after ack' });
      const again = await lease(queue);
      expect(again.map((j) => [j.id, j.payload, j.attempts])).toEqual([['dup', 'after ack', 1]]);
    });

    contract(
      'enqueueing the id of a dead job starts a fresh job',
      ['dedupeById', 'liveJobLookup'],
      async () => {
        const queue = uniqueName();
        await broker.enqueue(queue, { id: 'reborn', payload: 'old', maxAttempts: 1 });
        const [job] = await lease(queue);
        expect(await broker.nack(job!, { error: 'boom' })).toBe('dead');
        await expectLive(queue, 'reborn', false);
        await broker.enqueue(queue, { id: 'reborn', payload: 'new', maxAttempts: 1 });
        await expectLive(queue, 'reborn', true);
        const [fresh] = await lease(queue);
        expect(fresh).toMatchObject({ id: 'reborn', payload: 'new', attempts: 1 });
      },
    );

    // --- lease ---

    contract('lease returns no jobs at once from an empty queue', [], async () => {
      expect(await lease(uniqueName())).toEqual([]);
    });

    contract('lease gives each job its own token, attempts 1 and an expiry leaseMs ahead', [], async () => {
      const queue = uniqueName();
      await broker.enqueueMany(queue, [{ payload: 1, maxAttempts: 5 }, { payload: 2 }, { payload: 3 }]);
      const before = Date.now();
      const jobs = await lease(queue, 10, 30_000);
      const after = Date.now();
      expect(jobs).toHaveLength(3);
      expect(new Set(jobs.map((j) => j.token)).size).toBe(3);
      for (const job of jobs) {
        expect(job.attempts).toBe(1);
        expect(job.priority).toBe(0);
        expect(job.leaseExpiresAt).toBeGreaterThanOrEqual(before + 30_000);
        expect(job.leaseExpiresAt).toBeLessThanOrEqual(after + 30_000);
        expect(job.enqueuedAt).toBeLessThanOrEqual(after);
      }
      expect(jobs.map((j) => j.maxAttempts)).toEqual([5, 3, 3]);
    });

    contract('lease takes at most max jobs, oldest first', [], async () => {
      const queue = uniqueName();
      const ids = await broker.enqueueMany(
        queue,
        Array.from({ length: 5 }, (_, i) => ({ payload: i })),
      );
      const more = await broker.enqueue(queue, { payload: 5 });
      const first = await lease(queue, 2);
      expect(first.map((j) => j.id)).toEqual(ids.slice(0, 2));
      const rest = await lease(queue, 100);
      expect(rest.map((j) => j.id)).toEqual([...ids.slice(2), more]);
    });

    contract('lease serves higher priority first, FIFO within a priority', ['priorities'], async () => {
      const queue = uniqueName();
      await broker.enqueueMany(queue, [
        { id: 'low-1', payload: 0, priority: 1 },
        { id: 'high-1', payload: 0, priority: 10 },
        { id: 'none-1', payload: 0 },
        { id: 'high-2', payload: 0, priority: 10 },
        { id: 'low-2', payload: 0, priority: 1 },
      ]);
      await broker.enqueue(queue, { id: 'high-3', payload: 0, priority: 10 });
      expect((await lease(queue, 2)).map((j) => j.id)).toEqual(['high-1', 'high-2']);
      const rest = await lease(queue, 10);
      expect(rest.map((j) => j.id)).toEqual(['high-3', 'low-1', 'low-2', 'none-1']);
      expect(rest[0]!.priority).toBe(10);
    });

    defineFairShareContract(contract, () => broker);

    contract('a leased job is not delivered again while its lease is live', [], async () => {
      const queue = uniqueName();
      await broker.enqueueMany(queue, [{ payload: 1 }, { payload: 2 }]);
      const first = await lease(queue, 1);
      const second = await lease(queue, 10);
      expect(second.map((j) => j.id)).not.toContain(first[0]!.id);
      expect(await lease(queue, 10)).toEqual([]);
      await broker.reapExpiredLeases();
      expect(await lease(queue, 10)).toEqual([]);
      expect(await broker.depth(queue)).toMatchObject({ waiting: 0, leased: 2 });
    });

    contract('concurrent leasers never receive the same job', [], async () => {
      const queue = uniqueName();
      const total = 300;
      await broker.enqueueMany(
        queue,
        Array.from({ length: total }, (_, i) => ({ payload: i })),
      );
      const handles = [broker];
      if (fixture.reopen !== undefined) {
        const other = await fixture.reopen();
        extraHandles.push(other);
        handles.push(other);
      }
      const seen: string[] = [];
      const leaser = async (handle: Broker): Promise<void> => {
        for (;;) {
          const jobs = await handle.lease(queue, { max: 7, leaseMs: longLease });
          if (jobs.length === 0) return;
          for (const job of jobs) seen.push(job.id);
          expect(await handle.ack(jobs)).toBe(jobs.length);
        }
      };
      await Promise.all(handles.flatMap((h) => Array.from({ length: 4 }, () => leaser(h))));
      expect(seen).toHaveLength(total);
      expect(new Set(seen).size).toBe(total);
      expect(await broker.depth(queue)).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 0 });
    });

    contract('a long-polling lease wakes for a job enqueued while it waits', [], async () => {
      const queue = uniqueName();
      const pending = broker.lease(queue, { max: 5, leaseMs: longLease, waitMs: 20_000 });
      await sleep(30);
      await broker.enqueue(queue, { id: 'late', payload: 'x' });
      const jobs = await pending;
      expect(jobs.map((j) => j.id)).toEqual(['late']);
    });

    contract('a long-polling lease sees a job enqueued through another handle', [], async (ctx) => {
      const other = await secondHandle(ctx);
      const queue = uniqueName();
      const pending = broker.lease(queue, { max: 5, leaseMs: longLease, waitMs: 20_000 });
      await sleep(30);
      await other.enqueue(queue, { id: 'remote', payload: 'x' });
      expect((await pending).map((j) => j.id)).toEqual(['remote']);
    });

    contract('a long-polling lease returns no jobs when none arrive', [], async () => {
      expect(await broker.lease(uniqueName(), { max: 1, leaseMs: longLease, waitMs: 100 })).toEqual([]);
    });

    contract('a delayed job is held back until due, then leased', ['delayedJobs'], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { id: 'far', payload: 0, delayMs: 600_000 });
      expect(await lease(queue)).toEqual([]);
      expect(await broker.depth(queue)).toMatchObject({ waiting: 0, delayed: 1 });
      await expectLive(queue, 'far', true);

      await broker.enqueue(queue, { id: 'soon', payload: 1, delayMs: 150 });
      let got: LeasedJob[] = [];
      await eventually(async () => {
        got = await broker.lease(queue, { max: 10, leaseMs: longLease, waitMs: 500 });
        expect(got.length).toBeGreaterThan(0);
      }, delivered);
      expect(got.map((j) => j.id)).toEqual(['soon']);
      expect(await broker.depth(queue)).toMatchObject({ delayed: 1, leased: 1 });
    });

    // --- extend, ack ---

    contract('extendLeases extends live leases and skips stale tokens', [], async () => {
      const queue = uniqueName();
      await broker.enqueueMany(queue, [
        { id: 'keep', payload: 0 },
        { id: 'lose', payload: 1 },
      ]);
      const jobs = await lease(queue, 10, shortLease);
      const keep = jobs.find((j) => j.id === 'keep')!;
      const lose = jobs.find((j) => j.id === 'lose')!;
      const extended = await broker.extendLeases(
        [
          { id: keep.id, token: keep.token },
          { id: lose.id, token: 'not-the-token' },
        ],
        longLease,
      );
      expect(extended).toEqual(['keep']);
      expect(await broker.extendLeases([], longLease)).toEqual([]);

      await sleep(shortLease * 2);
      await broker.reapExpiredLeases();
      // 'keep' is still held; 'lose' expired and is deliverable again.
      expect(await broker.depth(queue)).toMatchObject({ waiting: 1, leased: 1 });
      expect(await broker.ack([keep])).toBe(1);
      const again = await lease(queue);
      expect(again.map((j) => [j.id, j.attempts])).toEqual([['lose', 2]]);
    });

    contract('ack removes jobs and counts only the leases still held', [], async () => {
      const queue = uniqueName();
      await broker.enqueueMany(queue, [{ payload: 'a' }, { payload: 'b' }, { payload: 'c' }]);
      const [a, b, c] = await lease(queue);
      expect(await broker.ack([a!, b!, { id: c!.id, token: 'forged' }])).toBe(2);
      expect(await broker.ack([a!])).toBe(0);
      expect(await broker.ack([])).toBe(0);
      expect(await broker.depth(queue)).toEqual({ waiting: 0, delayed: 0, leased: 1, dead: 0 });
      await expectLive(queue, a!.id, false);
      expect(await broker.ack([c!])).toBe(1);
      expect(await broker.depth(queue)).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 0 });
    });

    contract('an expired lease is delivered again after reaping; the old token is stale', [], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { id: 'slow', payload: 'work', maxAttempts: 3 });
      const [first] = await lease(queue, 1, shortLease);
      await sleep(shortLease * 2);
      expect(await broker.reapExpiredLeases()).toBeGreaterThanOrEqual(1);

      const [second] = await lease(queue, 1, longLease);
      expect(second).toMatchObject({ id: 'slow', attempts: 2, payload: 'work' });
      expect(second!.token).not.toBe(first!.token);

      expect(await broker.ack([first!])).toBe(0);
      expect(await broker.nack(first!, { error: 'late' })).toBe('stale');
      expect(await broker.extendLeases([first!], longLease)).toEqual([]);
      expect(await broker.depth(queue)).toMatchObject({ leased: 1 });
      expect(await broker.ack([second!])).toBe(1);
      await expectLive(queue, 'slow', false);
    });

    contract('reapExpiredLeases leaves live leases alone', [], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { payload: 1 });
      const [job] = await lease(queue, 1, longLease);
      await broker.reapExpiredLeases();
      expect(await broker.depth(queue)).toMatchObject({ waiting: 0, leased: 1 });
      expect(await broker.ack([job!])).toBe(1);
    });

    contract('the reaper dead-letters an expired job with no attempts left', [], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { id: 'doomed', payload: { n: 1 }, maxAttempts: 1 });
      const [job] = await lease(queue, 1, shortLease);
      await sleep(shortLease * 2);
      expect(await broker.reapExpiredLeases()).toBeGreaterThanOrEqual(1);
      expect(await broker.depth(queue)).toMatchObject({ waiting: 0, leased: 0, dead: 1 });
      expect(await lease(queue)).toEqual([]);
      expect(await broker.ack([job!])).toBe(0);
      if (broker.capabilities.deadLetterInspection) {
        const dead = await broker.deadJobs(queue);
        expect(dead).toHaveLength(1);
        expect(dead[0]).toMatchObject({ id: 'doomed', queue, payload: { n: 1 }, attempts: 1 });
        expect(dead[0]!.error).toMatch(/lease expired/);
      }
    });

    // --- nack ---

    contract('nack with delayMs 0 makes the job leasable again with attempts + 1', [], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { id: 'flaky', payload: 1 });
      const [job] = await lease(queue);
      expect(await broker.nack(job!, { error: 'transient', delayMs: 0 })).toBe('retried');
      expect(await broker.ack([job!])).toBe(0);
      const [again] = await lease(queue);
      expect(again).toMatchObject({ id: 'flaky', attempts: 2 });
      expect(again!.token).not.toBe(job!.token);
    });

    contract('nack with a delay holds the job back', ['delayedJobs'], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { id: 'later', payload: 1 });
      const [job] = await lease(queue);
      expect(await broker.nack(job!, { error: 'busy', delayMs: 600_000 })).toBe('retried');
      expect(await lease(queue)).toEqual([]);
      expect(await broker.depth(queue)).toMatchObject({ waiting: 0, delayed: 1, leased: 0 });
      await expectLive(queue, 'later', true);
    });

    contract('nack without delayMs retries after a backoff', [], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { id: 'backoff', payload: 1 });
      const [job] = await lease(queue);
      expect(await broker.nack(job!, { error: 'transient' })).toBe('retried');
      const depth = await broker.depth(queue);
      expect(depth.waiting + depth.delayed).toBe(1);
      expect(depth.leased).toBe(0);
      let again: LeasedJob[] = [];
      await eventually(
        async () => {
          again = await broker.lease(queue, { max: 1, leaseMs: longLease, waitMs: 500 });
          expect(again).toHaveLength(1);
        },
        { ...delivered, timeoutMs: 20_000 },
      );
      expect(again[0]).toMatchObject({ id: 'backoff', attempts: 2 });
    });

    contract('nack dead-letters a job that is out of attempts', [], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { id: 'tired', payload: { p: 1 }, maxAttempts: 2 });
      const [first] = await lease(queue);
      expect(await broker.nack(first!, { error: 'boom 1', delayMs: 0 })).toBe('retried');
      const [second] = await lease(queue);
      expect(second!.attempts).toBe(2);
      expect(await broker.nack(second!, { error: 'boom 2', delayMs: 0 })).toBe('dead');
      expect(await lease(queue)).toEqual([]);
      expect(await broker.depth(queue)).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 1 });
      await expectLive(queue, 'tired', false);
      expect(await broker.nack(second!, { error: 'again' })).toBe('stale');
    });

    contract('nack with retryable false dead-letters at once', [], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { id: 'bad-input', payload: 1, maxAttempts: 5 });
      const [job] = await lease(queue);
      expect(await broker.nack(job!, { error: 'unparseable', retryable: false })).toBe('dead');
      expect(await broker.depth(queue)).toMatchObject({ waiting: 0, delayed: 0, leased: 0, dead: 1 });
    });

    contract('nack with a stale token changes nothing', [], async () => {
      const queue = uniqueName();
      await broker.enqueue(queue, { id: 'held', payload: 1 });
      const [job] = await lease(queue);
      expect(await broker.nack({ id: job!.id, token: 'forged' }, { error: 'x', retryable: false })).toBe(
        'stale',
      );
      expect(await broker.nack({ id: 'no-such-job', token: job!.token }, { error: 'x' })).toBe('stale');
      expect(await broker.depth(queue)).toMatchObject({ leased: 1, dead: 0 });
      expect(await broker.ack([job!])).toBe(1);
    });

    // --- dead letters ---

    contract(
      'deadJobs lists dead jobs with their last error, up to limit',
      ['deadLetterInspection'],
      async () => {
        const queue = uniqueName();
        await broker.enqueueMany(
          queue,
          ['d1', 'd2', 'd3'].map((id) => ({ id, payload: { id }, maxAttempts: 1 })),
        );
        for (const job of await lease(queue)) {
          expect(await broker.nack(job, { error: `failed ${job.id}` })).toBe('dead');
        }
        const all = await broker.deadJobs(queue);
        expect(all.map((d) => d.id).sort()).toEqual(['d1', 'd2', 'd3']);
        for (const dead of all) {
          expect(dead).toMatchObject({
            queue,
            payload: { id: dead.id },
            attempts: 1,
            error: `failed ${dead.id}`,
          });
          expect(typeof dead.failedAt).toBe('number');
        }
        expect(await broker.deadJobs(queue, 2)).toHaveLength(2);
        expect(await broker.deadJobs(uniqueName())).toEqual([]);
      },
    );

    contract('requeueDead puts a dead job back with fresh attempts', ['deadLetterInspection'], async () => {
      const queue = uniqueName();
      await broker.enqueueMany(queue, [
        { id: 'phoenix', payload: 'p', maxAttempts: 1 },
        { id: 'alive', payload: 'a' },
      ]);
      const jobs = await lease(queue, 1);
      expect(await broker.nack(jobs[0]!, { error: 'boom' })).toBe('dead');

      expect(await broker.requeueDead(queue, 'phoenix')).toBe(true);
      expect(await broker.requeueDead(queue, 'phoenix')).toBe(false);
      expect(await broker.requeueDead(queue, 'alive')).toBe(false);
      expect(await broker.requeueDead(queue, 'never-existed')).toBe(false);
      expect(await broker.deadJobs(queue)).toEqual([]);
      await expectLive(queue, 'phoenix', true);

      const all = await lease(queue, 10);
      const phoenix = all.find((j) => j.id === 'phoenix');
      expect(phoenix).toMatchObject({ payload: 'p', attempts: 1, maxAttempts: 1 });
      expect(all).toHaveLength(2);
    });

    // --- inspection ---

    contract(
      'hasLiveJob is true while waiting or leased, false once acked or dead',
      ['liveJobLookup'],
      async () => {
        const queue = uniqueName();
        expect(await broker.hasLiveJob(queue, 'j')).toBe(false);
        await broker.enqueue(queue, { id: 'j', payload: 1, maxAttempts: 1 });
        expect(await broker.hasLiveJob(queue, 'j')).toBe(true);
        expect(await broker.hasLiveJob(uniqueName(), 'j')).toBe(false);
        const [job] = await lease(queue);
        expect(await broker.hasLiveJob(queue, 'j')).toBe(true);
        await broker.ack([job!]);
        expect(await broker.hasLiveJob(queue, 'j')).toBe(false);

        await broker.enqueue(queue, { id: 'k', payload: 1, maxAttempts: 1 });
        const [k] = await lease(queue);
        await broker.nack(k!, { error: 'x' });
        expect(await broker.hasLiveJob(queue, 'k')).toBe(false);
      },
    );

    contract('depth counts each state of one queue', [], async () => {
      const queue = uniqueName();
      await broker.enqueue(uniqueName(), { payload: 'elsewhere' });
      await broker.enqueueMany(queue, [
        { id: 'w1', payload: 0 },
        { id: 'l1', payload: 0 },
        { id: 'x1', payload: 0, maxAttempts: 1 },
        { id: 'w2', payload: 0 },
      ]);
      const held = await lease(queue, 2);
      await broker.enqueue(queue, { id: 'w3', payload: 0 });
      const [dead] = await lease(queue, 1);
      expect(dead!.id).toBe('x1');
      await broker.nack(dead!, { error: 'x' });
      const expected = { waiting: 2, delayed: 0, leased: 2, dead: 1 };
      if (broker.capabilities.delayedJobs) {
        await broker.enqueue(queue, { id: 'd1', payload: 0, delayMs: 600_000 });
        expected.delayed = 1;
      }
      expect(held.map((j) => j.id)).toEqual(['w1', 'l1']);
      expect(await broker.depth(queue)).toEqual(expected);
      expect(await broker.depth(uniqueName())).toEqual({ waiting: 0, delayed: 0, leased: 0, dead: 0 });
    });

    // --- broadcast ---

    const collect = (received: BroadcastMessage[]) => (message: BroadcastMessage) => {
      received.push(message);
    };
    /**
     * Published last: a channel delivers in order, so once a subscriber has the marker it has
     * everything published before it, and anything it should not have would already be there.
     */
    const marker: BroadcastMessage = { type: 'marker' };

    contract('publish reaches every subscriber once, in order', ['broadcast'], async () => {
      const channel = uniqueName('channel');
      const one: BroadcastMessage[] = [];
      const two: BroadcastMessage[] = [];
      const unsubscribe = [
        await broker.subscribe(channel, collect(one)),
        await broker.subscribe(channel, collect(two)),
      ];
      const sent = Array.from({ length: 5 }, (_, n) => ({ type: 'reload', n, model: `m@${n}` }));
      for (const message of sent) await broker.publish(channel, message);
      // Delivered in order: a duplicate of any of the five would come before the marker.
      await broker.publish(channel, marker);
      await eventually(() => {
        expect(one.at(-1)).toEqual(marker);
        expect(two.at(-1)).toEqual(marker);
      }, delivered);
      expect(one).toEqual([...sent, marker]);
      expect(two).toEqual([...sent, marker]);
      for (const stop of unsubscribe) await stop();
    });

    contract('a subscriber sees only messages published after it subscribed', ['broadcast'], async () => {
      const channel = uniqueName('channel');
      await broker.publish(channel, { type: 'before' });
      const received: BroadcastMessage[] = [];
      const stop = await broker.subscribe(channel, collect(received));
      await broker.publish(channel, { type: 'after' });
      await broker.publish(channel, marker);
      await eventually(() => expect(received.at(-1)).toEqual(marker), delivered);
      expect(received).toEqual([{ type: 'after' }, marker]);
      await stop();
    });

    contract(
      'a late subscriber is not shown what an earlier one is still catching up on',
      ['broadcast'],
      async (ctx) => {
        const other = await secondHandle(ctx);
        const channel = uniqueName('channel');
        const early: BroadcastMessage[] = [];
        const late: BroadcastMessage[] = [];
        const stops = [await broker.subscribe(channel, collect(early))];
        // Published elsewhere: the early subscriber has not necessarily received it yet.
        await other.publish(channel, { type: 'first' });
        stops.push(await broker.subscribe(channel, collect(late)));
        await other.publish(channel, { type: 'second' });
        await other.publish(channel, marker);
        await eventually(() => {
          expect(early.at(-1)).toEqual(marker);
          expect(late.at(-1)).toEqual(marker);
        }, delivered);
        expect(early.map((m) => m.type)).toEqual(['first', 'second', 'marker']);
        expect(late.map((m) => m.type)).toEqual(['second', 'marker']);
        for (const stop of stops) await stop();
      },
    );

    contract('channels are isolated and unsubscribe stops delivery', ['broadcast'], async () => {
      const a = uniqueName('channel');
      const b = uniqueName('channel');
      const onA: BroadcastMessage[] = [];
      const onB: BroadcastMessage[] = [];
      const stopA = await broker.subscribe(a, collect(onA));
      const stopB = await broker.subscribe(b, collect(onB));
      await broker.publish(a, { type: 'for-a' });
      await broker.publish(b, { type: 'for-b' });
      await eventually(() => {
        expect(onA).toEqual([{ type: 'for-a' }]);
        expect(onB).toEqual([{ type: 'for-b' }]);
      }, delivered);
      await stopA();
      await broker.publish(a, { type: 'unheard' });
      await broker.publish(b, { type: 'marker' });
      await eventually(() => expect(onB).toHaveLength(2), delivered);
      // Nothing orders one channel's deliveries against another's (RabbitMQ: a queue per
      // subscription), so the marker on b cannot prove that a's message was not delivered: wait.
      await sleep(300);
      expect(onA).toEqual([{ type: 'for-a' }]);
      await stopB();
    });

    contract('publish reaches subscribers on another handle, in order', ['broadcast'], async (ctx) => {
      const other = await secondHandle(ctx);
      const channel = uniqueName('channel');
      const here: BroadcastMessage[] = [];
      const there: BroadcastMessage[] = [];
      const stops = [
        await broker.subscribe(channel, collect(here)),
        await other.subscribe(channel, collect(there)),
      ];
      await broker.publish(channel, { type: 'from-first', n: 1 });
      await other.publish(channel, { type: 'from-second', n: 2 });
      await broker.publish(channel, { type: 'from-first', n: 3 });
      await broker.publish(channel, marker);
      await eventually(() => {
        expect(here.at(-1)).toEqual(marker);
        expect(there.at(-1)).toEqual(marker);
      }, delivered);
      const expected = [1, 2, 3, undefined];
      expect(here.map((m) => m.n)).toEqual(expected);
      expect(there.map((m) => m.n)).toEqual(expected);
      for (const stop of stops) await stop();
    });
  });
}
