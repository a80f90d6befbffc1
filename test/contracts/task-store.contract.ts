import { expect } from 'vitest';
import { paramsHash, sha256Hex } from '../../src/core/hash.js';
import { newId, newLeaseToken } from '../../src/core/ids.js';
import { pipelineChildId } from '../../src/core/pipeline-ids.js';
import type { NewTask, Task } from '../../src/core/task.js';
import { cacheLookupWindow, type TaskFilter, type TaskStore } from '../../src/store/task-store.js';
import {
  allPages,
  type ContractOptions,
  cacheKeyOf,
  child,
  clockPast,
  create,
  createRunning,
  describeContract,
  draft,
  expectCode,
  leaseMs,
  mustGet,
  runningPipelineTask,
  type StoreFactory,
  stages,
} from './task-store-fixtures.js';

/**
 * The behaviour every `TaskStore` adapter must have (the task lifecycle: create, claim, settle,
 * read, list, cancel, retention), as one suite (after hono's `router/common.case.test.ts`). It
 * checks semantics only (states, fencing, paging, retention), never how an adapter stores them,
 * so SQLite and PostgreSQL run the very same tests. The other roles of the task database have
 * suites of their own beside it (webhook-deliveries, idempotency-keys, feedback, task-stats).
 */
export function runTaskStoreContract(
  name: string,
  factory: StoreFactory<TaskStore>,
  options: ContractOptions = {},
): void {
  describeContract(`TaskStore contract: ${name}`, factory, options, ({ store, section, test }) => {
    section('createTasks', () => {
      test('fills in defaults and records created then queued', async () => {
        const before = Date.now();
        const params = { threshold: 0.5, lang: 'en' };
        const [task] = await store.createTasks([draft({ params })]);
        expect(task).toMatchObject({
          state: 'queued',
          attempts: 0,
          maxAttempts: 3,
          priority: 0,
          params,
          paramsHash: paramsHash(params),
          error: null,
          result: null,
          cached: false,
          callbackUrl: null,
          finishedAt: null,
          workerId: null,
        });
        expect(task!.createdAt).toBeGreaterThanOrEqual(before);
        expect(task!.updatedAt).toBe(task!.createdAt);
        const stored = await mustGet(store, task!.id);
        expect(stored).toEqual({ ...task, timeline: stored.timeline });
        expect(stored.timeline).toEqual([
          { stage: 'created', at: task!.createdAt },
          { stage: 'queued', at: task!.createdAt },
        ]);
      });

      test('stores every given field, and params default to {}', async () => {
        const [full, bare] = await store.createTasks([
          draft({
            requestId: 'req-9',
            owner: 'bob',
            target: { kind: 'pipeline', name: 'ocr', version: '2.1' },
            input: { sha256: sha256Hex('x'), size: 7, mediaType: 'text/plain' },
            params: { b: [1, 2], a: { nested: true } },
            priority: 5,
            maxAttempts: 7,
            callbackUrl: 'https://example.test/hook',
          }),
          draft(),
        ]);
        expect(await mustGet(store, full!.id)).toMatchObject({
          requestId: 'req-9',
          owner: 'bob',
          target: { kind: 'pipeline', name: 'ocr', version: '2.1' },
          input: { sha256: sha256Hex('x'), size: 7, mediaType: 'text/plain' },
          params: { b: [1, 2], a: { nested: true } },
          paramsHash: paramsHash({ a: { nested: true }, b: [1, 2] }),
          priority: 5,
          maxAttempts: 7,
          callbackUrl: 'https://example.test/hook',
        });
        expect(bare!.params).toEqual({});
        expect(bare!.paramsHash).toBe(paramsHash({}));
      });

      test("keeps the input's client name, null when none, everywhere a task is read", async () => {
        const input = { sha256: sha256Hex('scan'), size: 4, mediaType: 'image/png' };
        const [named, bare] = await store.createTasks([
          draft({ input: { ...input, name: 'Übersicht (1).png' } }),
          draft({ input }),
        ]);
        expect(named!.input).toEqual({ ...input, name: 'Übersicht (1).png' });
        expect(bare!.input).toEqual({ ...input, name: null });
        expect((await mustGet(store, named!.id)).input.name).toBe('Übersicht (1).png');
        expect((await store.getTaskWithoutTimeline(bare!.id))!.input.name).toBeNull();
        const listed = await store.listTasks({ owner: named!.owner, inputSha256: input.sha256 });
        expect(listed.items.map((t) => t.input.name).sort()).toEqual(['Übersicht (1).png', null].sort());
      });

      test('keeps given ids and generates time-sortable UUIDv7 ids otherwise', async () => {
        const given = newId();
        const tasks = await store.createTasks([draft({ id: given }), draft(), draft()]);
        expect(tasks[0]!.id).toBe(given);
        const generated = [tasks[1]!.id, tasks[2]!.id];
        for (const id of generated)
          expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-/);
        const later = await create(store);
        expect([...generated, later.id]).toEqual([...generated, later.id].sort());
        expect(generated[1]! > generated[0]!).toBe(true);
      });

      test('is all or none: a duplicate id in the batch creates nothing', async () => {
        const id = newId();
        const batch = [draft({ owner: 'dup' }), draft({ id, owner: 'dup' }), draft({ id, owner: 'dup' })];
        const error = await expectCode(store.createTasks(batch), 'INFERQ_TASK_ID_CONFLICT');
        expect(error.message).toContain(id);
        expect(await store.getTask(id)).toBeUndefined();
        expect((await store.listTasks({ owner: 'dup' })).items).toEqual([]);
      });

      test('refuses an id that already exists and keeps the stored task', async () => {
        const existing = await create(store, { owner: 'first' });
        await expectCode(
          store.createTasks([draft({ owner: 'second' }), draft({ id: existing.id, owner: 'second' })]),
          'INFERQ_TASK_ID_CONFLICT',
        );
        expect((await mustGet(store, existing.id)).owner).toBe('first');
        expect((await store.listTasks({ owner: 'second' })).items).toEqual([]);
      });

      test('with cachedResult creates a succeeded, cached task', async () => {
        const result = { labels: ['cat'], score: 0.9 };
        const [task] = await store.createTasks([draft({ cachedResult: { result } })]);
        expect(task).toMatchObject({ state: 'succeeded', cached: true, result, attempts: 0, error: null });
        expect(task!.finishedAt).toBe(task!.createdAt);
        const stored = await mustGet(store, task!.id);
        expect(stored).toMatchObject({ state: 'succeeded', cached: true, result });
        expect(stages(stored)[0]).toBe('created');
        expect(stages(stored).at(-1)).toBe('succeeded');
        expect(stages(stored)).not.toContain('running');
      });

      test('with an empty list creates nothing', async () => {
        expect(await store.createTasks([])).toEqual([]);
        expect((await store.listTasks({})).items).toEqual([]);
      });
    });

    section('getTask', () => {
      test('returns undefined for a missing id', async () => {
        expect(await store.getTask(newId())).toBeUndefined();
      });

      test('round-trips a result of several MB', async () => {
        const { task, token } = await createRunning(store);
        const result = { text: 'x'.repeat(5 * 1024 * 1024), boxes: [[1, 2, 3, 4]] };
        expect(await store.completeTask(task.id, { leaseToken: token, result })).toBe(true);
        expect((await mustGet(store, task.id)).result).toEqual(result);
      });
    });

    section('getTaskWithoutTimeline', () => {
      test('returns the task as getTask does, result included, but no timeline', async () => {
        const queued = await create(store);
        const { task, token } = await createRunning(store);
        const result = { label: 'cat', score: 0.9 };
        expect(await store.completeTask(task.id, { leaseToken: token, result })).toBe(true);
        for (const id of [queued.id, task.id]) {
          const { timeline, ...full } = await mustGet(store, id);
          expect(timeline.length).toBeGreaterThan(0);
          const read = await store.getTaskWithoutTimeline(id);
          expect(read).toEqual(full);
          expect(read).not.toHaveProperty('timeline');
        }
        expect((await store.getTaskWithoutTimeline(task.id))?.result).toEqual(result);
      });

      test('returns undefined for a missing id', async () => {
        expect(await store.getTaskWithoutTimeline(newId())).toBeUndefined();
      });
    });

    section('listTasks', () => {
      test('lists newest first, without results or timelines', async () => {
        const a = await create(store);
        const b = await create(store);
        const { task: c, token } = await createRunning(store);
        await store.completeTask(c.id, { leaseToken: token, result: { big: 'y'.repeat(1000) } });
        const page = await store.listTasks({});
        expect(page.items.map((t) => t.id)).toEqual([c.id, b.id, a.id]);
        expect(page.nextCursor).toBeUndefined();
        const { timeline: _timeline, ...full } = await mustGet(store, c.id);
        expect(page.items[0]).toEqual({ ...full, result: undefined });
        expect(page.items[0]).not.toHaveProperty('timeline');
        expect(page.items[0]!.result).toBeUndefined();
      });

      test('filters by owner, requestId and inputSha256 (AND)', async () => {
        const shared = sha256Hex('shared input');
        const input = { sha256: shared, size: 1, mediaType: 'image/png' };
        const a = await create(store, { owner: 'alice', requestId: 'r1', input });
        const b = await create(store, { owner: 'bob', requestId: 'r1', input });
        const c = await create(store, { owner: 'alice', requestId: 'r2' });
        const ids = async (filter: Parameters<TaskStore['listTasks']>[0]) =>
          (await store.listTasks(filter)).items.map((t) => t.id);
        expect(await ids({ owner: 'alice' })).toEqual([c.id, a.id]);
        expect(await ids({ requestId: 'r1' })).toEqual([b.id, a.id]);
        expect(await ids({ inputSha256: shared })).toEqual([b.id, a.id]);
        expect(await ids({ owner: 'alice', requestId: 'r1' })).toEqual([a.id]);
        expect(await ids({ owner: 'carol' })).toEqual([]);
      });

      test('filters by a list of ids (AND with the rest); an empty list matches nothing', async () => {
        const a = await create(store, { owner: 'alice' });
        const b = await create(store, { owner: 'alice' });
        const c = await create(store, { owner: 'bob' });
        const ids = async (filter: Parameters<TaskStore['listTasks']>[0]) =>
          (await store.listTasks(filter)).items.map((t) => t.id);
        expect(await ids({ ids: [a.id, c.id, newId()] })).toEqual([c.id, a.id]);
        expect(await ids({ owner: 'alice', ids: [a.id, b.id, c.id] })).toEqual([b.id, a.id]);
        expect(await ids({ ids: [] })).toEqual([]);
        const many = [a.id, ...Array.from({ length: 999 }, () => newId())];
        expect(await ids({ ids: many })).toEqual([a.id]);
      });

      test('filters by one state or several', async () => {
        const queued = await create(store);
        const { task: running } = await createRunning(store);
        const cancelled = await create(store);
        await store.cancelTask(cancelled.id);
        const ids = async (state: Parameters<TaskStore['listTasks']>[0]['state']) =>
          (await store.listTasks({ state })).items.map((t) => t.id);
        expect(await ids('queued')).toEqual([queued.id]);
        expect(await ids('running')).toEqual([running.id]);
        expect(await ids(['queued', 'cancelled'])).toEqual([cancelled.id, queued.id]);
        expect(await ids(['succeeded'])).toEqual([]);
      });

      test('filters target by name@version exactly, or by bare name for every version', async () => {
        const r1 = await create(store, { target: { kind: 'model', name: 'resnet', version: '1' } });
        const r2 = await create(store, { target: { kind: 'model', name: 'resnet', version: '2' } });
        await create(store, { target: { kind: 'model', name: 'resnet50', version: '1' } });
        await create(store, { target: { kind: 'pipeline', name: 'ocr', version: '1' } });
        const ids = async (target: string) => (await store.listTasks({ target })).items.map((t) => t.id);
        expect(await ids('resnet')).toEqual([r2.id, r1.id]);
        expect(await ids('resnet@1')).toEqual([r1.id]);
        expect(await ids('resnet@3')).toEqual([]);
        expect(await ids('resne')).toEqual([]);
      });

      test('filters createdFrom inclusive and createdTo exclusive', async () => {
        const a = await create(store);
        await clockPast(a.createdAt);
        const b = await create(store);
        await clockPast(b.createdAt);
        const c = await create(store);
        const ids = async (filter: Parameters<TaskStore['listTasks']>[0]) =>
          (await store.listTasks(filter)).items.map((t) => t.id);
        expect(await ids({ createdFrom: b.createdAt })).toEqual([c.id, b.id]);
        expect(await ids({ createdTo: b.createdAt })).toEqual([a.id]);
        expect(await ids({ createdFrom: b.createdAt, createdTo: c.createdAt })).toEqual([b.id]);
      });

      test('pages with an opaque cursor, each matching task exactly once', async () => {
        const alice: string[] = [];
        for (let i = 0; i < 23; i++) {
          alice.push((await create(store, { owner: 'alice' })).id);
          if (i % 3 === 0) await create(store, { owner: 'bob' });
        }
        const listed = await allPages(store, { owner: 'alice' }, 5);
        expect(listed).toEqual([...alice].reverse());
      });

      test('gives no nextCursor on the page that ends the listing', async () => {
        for (let i = 0; i < 10; i++) await create(store);
        const first = await store.listTasks({}, { limit: 5 });
        expect(first.items).toHaveLength(5);
        expect(first.nextCursor).toEqual(expect.any(String));
        const second = await store.listTasks({}, { limit: 5, cursor: first.nextCursor! });
        expect(second.items).toHaveLength(5);
        expect(second.nextCursor).toBeUndefined();
      });

      test('paging stays exact while new tasks are being created', async () => {
        const original = (await store.createTasks(Array.from({ length: 25 }, () => draft()))).map(
          (t) => t.id,
        );
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.listTasks({}, cursor === undefined ? { limit: 7 } : { limit: 7, cursor });
          seen.push(...page.items.map((t) => t.id));
          cursor = page.nextCursor;
          await store.createTasks([draft(), draft()]);
        } while (cursor !== undefined);
        expect(seen).toEqual([...original].reverse());
      });

      test('rejects an altered cursor with INFERQ_INVALID_CURSOR', async () => {
        for (let i = 0; i < 3; i++) await create(store);
        const { nextCursor } = await store.listTasks({}, { limit: 1 });
        const cursor = nextCursor!;
        const middle = Math.floor(cursor.length / 2);
        const swapped = cursor[middle] === 'A' ? 'B' : 'A';
        const altered = [
          'not-a-cursor',
          cursor.slice(0, -1),
          `${cursor}A`,
          `${cursor.slice(0, middle)}${swapped}${cursor.slice(middle + 1)}`,
        ];
        for (const bad of altered)
          await expectCode(store.listTasks({}, { cursor: bad }), 'INFERQ_INVALID_CURSOR');
      });

      test('rejects a cursor from a listing with other filters', async () => {
        for (let i = 0; i < 3; i++) await create(store, { owner: 'alice' });
        const { nextCursor } = await store.listTasks({ owner: 'alice' }, { limit: 1 });
        await expectCode(store.listTasks({ owner: 'bob' }, { cursor: nextCursor! }), 'INFERQ_INVALID_CURSOR');
        const next = await store.listTasks({ owner: 'alice' }, { limit: 1, cursor: nextCursor! });
        expect(next.items).toHaveLength(1);
      });

      test('limit defaults to 50 and is clamped to 1..1000', async () => {
        await store.createTasks(Array.from({ length: 1001 }, () => draft()));
        const byDefault = await store.listTasks({});
        expect(byDefault.items).toHaveLength(50);
        expect(byDefault.nextCursor).toBeDefined();
        expect((await store.listTasks({}, { limit: 0 })).items).toHaveLength(1);
        expect((await store.listTasks({}, { limit: -5 })).items).toHaveLength(1);
        const most = await store.listTasks({}, { limit: 5000 });
        expect(most.items).toHaveLength(1000);
        expect(most.nextCursor).toBeDefined();
      });
    });

    section('countTasks', () => {
      test('counts every state, zeros included, under the filter', async () => {
        await create(store, { owner: 'alice' });
        await createRunning(store, { owner: 'alice' });
        const { task, token } = await createRunning(store, { owner: 'alice' });
        await store.completeTask(task.id, { leaseToken: token, result: 1 });
        await create(store, { owner: 'bob' });
        expect(await store.countTasks({ owner: 'alice' })).toEqual({
          queued: 1,
          running: 1,
          succeeded: 1,
          failed: 0,
          cancelled: 0,
        });
        expect(await store.countTasks({})).toEqual({
          queued: 2,
          running: 1,
          succeeded: 1,
          failed: 0,
          cancelled: 0,
        });
        expect(await store.countTasks({ owner: 'nobody' })).toEqual({
          queued: 0,
          running: 0,
          succeeded: 0,
          failed: 0,
          cancelled: 0,
        });
      });
    });

    section('claimTask', () => {
      test('moves a queued task to running and counts the attempt', async () => {
        const created = await create(store);
        const at = created.createdAt + 10;
        const claim = await store.claimTask(created.id, { leaseToken: newLeaseToken(), workerId: 'w1', at });
        expect(claim.claimed).toBe(true);
        expect(claim.task).toMatchObject({
          id: created.id,
          state: 'running',
          attempts: 1,
          workerId: 'w1',
          updatedAt: at,
        });
        const stored = await mustGet(store, created.id);
        expect(stored).toMatchObject({ state: 'running', attempts: 1, workerId: 'w1' });
        expect(stages(stored)).toEqual(['created', 'queued', 'running']);
        expect(stored.timeline[2]).toMatchObject({ stage: 'running', at, attempt: 1 });
      });

      test('with the same token again succeeds without another attempt', async () => {
        const { task, token } = await createRunning(store);
        const again = await store.claimTask(task.id, { leaseToken: token, workerId: 'w1' });
        expect(again.claimed).toBe(true);
        expect(again.task).toMatchObject({ state: 'running', attempts: 1 });
        expect(stages(await mustGet(store, task.id)).filter((s) => s === 'running')).toHaveLength(1);
      });

      test('takes over a task running under another token once its lease has expired', async () => {
        const { task, token: old } = await createRunning(store);
        const fresh = newLeaseToken();
        const claim = await store.claimTask(task.id, {
          leaseToken: fresh,
          workerId: 'w2',
          at: task.updatedAt + leaseMs,
        });
        expect(claim.claimed).toBe(true);
        expect(claim.task).toMatchObject({ state: 'running', attempts: 2, workerId: 'w2' });
        const stored = await mustGet(store, task.id);
        expect(stages(stored)).toEqual(['created', 'queued', 'running', 'lease-expired', 'running']);
        expect(stored.timeline[3]).toMatchObject({
          stage: 'lease-expired',
          attempt: 1,
          data: { workerId: 'w1' },
        });
        expect(stored.timeline.at(-1)).toMatchObject({ stage: 'running', attempt: 2 });
        expect(await store.completeTask(task.id, { leaseToken: old, result: 'late' })).toBe(false);
        expect(
          await store.failTask(task.id, { leaseToken: old, error: { code: 'X', message: 'x' }, retry: true }),
        ).toBe(false);
        expect(await store.releaseTask(task.id, old, 'drain')).toBe(false);
        expect(await store.completeTask(task.id, { leaseToken: fresh, result: 'ok' })).toBe(true);
        expect(await mustGet(store, task.id)).toMatchObject({
          state: 'succeeded',
          result: 'ok',
          attempts: 2,
        });
      });

      test('refuses a task whose lease under another token is live, and writes nothing', async () => {
        const { task, token } = await createRunning(store);
        const before = await mustGet(store, task.id);
        const claim = await store.claimTask(task.id, {
          leaseToken: newLeaseToken(),
          workerId: 'w2',
          at: task.updatedAt + leaseMs - 1,
        });
        expect(claim).toEqual({
          claimed: false,
          task: expect.objectContaining({ id: task.id }),
          heldUntil: task.updatedAt + leaseMs,
        });
        expect(await mustGet(store, task.id)).toEqual(before);
        expect(await store.completeTask(task.id, { leaseToken: token, result: 'mine' })).toBe(true);
        expect(await mustGet(store, task.id)).toMatchObject({
          state: 'succeeded',
          attempts: 1,
          workerId: null,
        });
      });

      test('with the same token again extends the lease', async () => {
        const { task, token } = await createRunning(store);
        await store.claimTask(task.id, {
          leaseToken: token,
          workerId: 'w1',
          at: task.updatedAt + leaseMs - 1,
          leaseMs,
        });
        const other = await store.claimTask(task.id, {
          leaseToken: newLeaseToken(),
          workerId: 'w2',
          at: task.updatedAt + leaseMs + 1,
        });
        expect(other).toMatchObject({ claimed: false, heldUntil: task.updatedAt + 2 * leaseMs - 1 });
      });

      test('of an expired lease with every attempt used fails the task INFERQ_WORKER_LOST', async () => {
        const { task } = await createRunning(store, { maxAttempts: 1 });
        const claim = await store.claimTask(task.id, {
          leaseToken: newLeaseToken(),
          workerId: 'w2',
          at: task.updatedAt + leaseMs,
        });
        expect(claim).toMatchObject({ claimed: false, lost: true });
        expect(claim.task).toMatchObject({
          state: 'failed',
          attempts: 1,
          workerId: null,
          error: { code: 'INFERQ_WORKER_LOST' },
        });
        expect('heldUntil' in claim).toBe(false);
        const stored = await mustGet(store, task.id);
        expect(stages(stored)).toEqual(['created', 'queued', 'running', 'lease-expired', 'failed']);
        expect(stored.timeline.at(-1)).toMatchObject({
          attempt: 1,
          data: { error: { code: 'INFERQ_WORKER_LOST' } },
        });
      });

      test('two workers racing for one expired lease: exactly one wins', async () => {
        for (let round = 0; round < 5; round++) {
          const { task } = await createRunning(store);
          const at = task.updatedAt + leaseMs;
          const tokens = Array.from({ length: 4 }, () => newLeaseToken());
          const claims = await Promise.all(
            tokens.map((leaseToken, i) =>
              store.claimTask(task.id, { leaseToken, workerId: `w${i + 2}`, at }),
            ),
          );
          expect(claims.filter((c) => c.claimed)).toHaveLength(1);
          const winner = tokens[claims.findIndex((c) => c.claimed)]!;
          for (const c of claims.filter((c) => !c.claimed))
            expect(c).toMatchObject({ heldUntil: at + leaseMs });
          const stored = await mustGet(store, task.id);
          expect(stored).toMatchObject({ state: 'running', attempts: 2 });
          expect(stages(stored).filter((s) => s === 'lease-expired')).toHaveLength(1);
          for (const token of tokens) {
            expect(await store.completeTask(task.id, { leaseToken: token, result: 1 })).toBe(
              token === winner,
            );
          }
        }
      });

      test('does not claim a final task and returns it', async () => {
        const { task, token } = await createRunning(store);
        await store.completeTask(task.id, { leaseToken: token, result: { ok: true } });
        const claim = await store.claimTask(task.id, { leaseToken: newLeaseToken(), workerId: 'w2' });
        expect(claim.claimed).toBe(false);
        expect(claim.task).toMatchObject({ id: task.id, state: 'succeeded', attempts: 1 });
        const cancelled = await create(store);
        await store.cancelTask(cancelled.id);
        const second = await store.claimTask(cancelled.id, { leaseToken: newLeaseToken(), workerId: 'w2' });
        expect(second).toMatchObject({ claimed: false, task: { state: 'cancelled', attempts: 0 } });
      });

      test('returns no task for a missing id', async () => {
        expect(await store.claimTask(newId(), { leaseToken: newLeaseToken(), workerId: 'w1' })).toEqual({
          claimed: false,
          task: undefined,
        });
      });
    });

    section('renewLeases', () => {
      test('extends the leases still held, in one call, and says which', async () => {
        const a = await createRunning(store);
        const b = await createRunning(store);
        const settled = await createRunning(store);
        await store.completeTask(settled.task.id, { leaseToken: settled.token, result: 1 });
        const at = Math.max(a.task.updatedAt, b.task.updatedAt) + leaseMs - 1;
        const renewed = await store.renewLeases(
          [
            { id: a.task.id, leaseToken: a.token },
            { id: b.task.id, leaseToken: newLeaseToken() },
            { id: settled.task.id, leaseToken: settled.token },
            { id: newId(), leaseToken: a.token },
          ],
          leaseMs,
          at,
        );
        expect(renewed).toEqual([a.task.id]);
        expect(await store.renewLeases([], leaseMs)).toEqual([]);
        // a is held past its first expiry; b (not renewed: wrong token) is taken over.
        const later = at + 2;
        const takeA = await store.claimTask(a.task.id, {
          leaseToken: newLeaseToken(),
          workerId: 'w2',
          at: later,
        });
        expect(takeA).toMatchObject({ claimed: false, heldUntil: at + leaseMs });
        const takeB = await store.claimTask(b.task.id, {
          leaseToken: newLeaseToken(),
          workerId: 'w2',
          at: later,
        });
        expect(takeB).toMatchObject({ claimed: true, task: { attempts: 2 } });
        expect(await store.completeTask(a.task.id, { leaseToken: a.token, result: 'a' })).toBe(true);
      });
    });

    section('listExpiredLeases', () => {
      test('lists the model tasks running under a lease that ran out, oldest first, and nothing else', async () => {
        const lost = await createRunning(store);
        const lostToo = await createRunning(store);
        const live = await createRunning(store);
        await create(store); // queued: no lease
        const done = await createRunning(store);
        await store.completeTask(done.task.id, { leaseToken: done.token, result: 1 });
        // A pipeline task stays running, its lease unrenewed, while its steps run.
        const pipeline = await createRunning(store, {
          target: { kind: 'pipeline', name: 'ocr', version: '1' },
        });
        const at =
          Math.max(lost.task.updatedAt, lostToo.task.updatedAt, pipeline.task.updatedAt) + leaseMs + 1;
        // live renews its lease; the others' workers are gone.
        expect(
          await store.renewLeases([{ id: live.task.id, leaseToken: live.token }], leaseMs, at - 1),
        ).toEqual([live.task.id]);

        expect(await store.listExpiredLeases(lost.task.updatedAt + leaseMs - 1)).toEqual([]);
        const expired = await store.listExpiredLeases(at);
        expect(expired.map((t) => t.id)).toEqual([lost.task.id, lostToo.task.id]);
        expect(expired[0]).toMatchObject({ state: 'running', attempts: 1, workerId: 'w1' });
        expect((await store.listExpiredLeases(at, 1)).map((t) => t.id)).toEqual([lost.task.id]);

        // Taken over, a task is no longer listed until its new lease runs out in turn.
        const taken = await store.claimTask(lost.task.id, {
          leaseToken: newLeaseToken(),
          workerId: 'w2',
          leaseMs,
          at,
        });
        expect(taken).toMatchObject({ claimed: true, task: { attempts: 2 } });
        expect((await store.listExpiredLeases(at)).map((t) => t.id)).toEqual([lostToo.task.id]);
      });
    });

    section('completeTask', () => {
      test('stores the result and finishes the task', async () => {
        const { task, token } = await createRunning(store);
        const at = task.updatedAt + 100;
        const result = { text: 'hello', boxes: [[0, 0, 5, 5]] };
        const timing = { inferenceMs: 12, batchSize: 4 };
        expect(await store.completeTask(task.id, { leaseToken: token, result, at, timing })).toBe(true);
        const stored = await mustGet(store, task.id);
        expect(stored).toMatchObject({
          state: 'succeeded',
          result,
          error: null,
          workerId: null,
          finishedAt: at,
          updatedAt: at,
          attempts: 1,
          cached: false,
        });
        expect(stored.timeline.at(-1)).toMatchObject({ stage: 'succeeded', at, data: timing });
      });

      test('clears the error of an earlier failed attempt', async () => {
        const { task, token } = await createRunning(store);
        await store.failTask(task.id, {
          leaseToken: token,
          error: { code: 'E', message: 'boom' },
          retry: true,
        });
        const second = newLeaseToken();
        await store.claimTask(task.id, { leaseToken: second, workerId: 'w1' });
        expect(await store.completeTask(task.id, { leaseToken: second, result: 42 })).toBe(true);
        expect(await mustGet(store, task.id)).toMatchObject({ state: 'succeeded', error: null, result: 42 });
      });

      test('with a stale token changes nothing', async () => {
        const { task } = await createRunning(store);
        const before = await mustGet(store, task.id);
        expect(await store.completeTask(task.id, { leaseToken: newLeaseToken(), result: 'stale' })).toBe(
          false,
        );
        expect(await mustGet(store, task.id)).toEqual(before);
      });

      test('succeeds only once', async () => {
        const { task, token } = await createRunning(store);
        expect(await store.completeTask(task.id, { leaseToken: token, result: 'first' })).toBe(true);
        const after = await mustGet(store, task.id);
        expect(await store.completeTask(task.id, { leaseToken: token, result: 'second' })).toBe(false);
        expect(await mustGet(store, task.id)).toEqual(after);
        expect(after.result).toBe('first');
      });

      test('returns false for a task that is not running', async () => {
        const queued = await create(store);
        expect(await store.completeTask(queued.id, { leaseToken: newLeaseToken(), result: 1 })).toBe(false);
        expect(await mustGet(store, queued.id)).toMatchObject({ state: 'queued', result: null });
        expect(await store.completeTask(newId(), { leaseToken: newLeaseToken(), result: 1 })).toBe(false);
      });
    });

    section('failTask', () => {
      test('with retry requeues the task and keeps the error as its last error', async () => {
        const { task, token } = await createRunning(store);
        const error = { code: 'INFERQ_WORK_TIMEOUT', message: 'took too long', details: { timeoutMs: 100 } };
        const at = task.updatedAt + 1;
        expect(await store.failTask(task.id, { leaseToken: token, error, retry: true, at })).toBe(true);
        const stored = await mustGet(store, task.id);
        expect(stored).toMatchObject({
          state: 'queued',
          error,
          attempts: 1,
          workerId: null,
          finishedAt: null,
        });
        expect(stored.timeline.at(-1)).toMatchObject({ stage: 'retry', at });
        expect(await store.completeTask(task.id, { leaseToken: token, result: 'late' })).toBe(false);
        const again = await store.claimTask(task.id, { leaseToken: newLeaseToken(), workerId: 'w2' });
        expect(again).toMatchObject({ claimed: true, task: { state: 'running', attempts: 2 } });
      });

      test('without retry fails the task for good', async () => {
        const { task, token } = await createRunning(store);
        const error = { code: 'INFERQ_WORK_FAILED', message: 'bad tensor shape' };
        const at = task.updatedAt + 1;
        expect(await store.failTask(task.id, { leaseToken: token, error, retry: false, at })).toBe(true);
        const stored = await mustGet(store, task.id);
        expect(stored).toMatchObject({
          state: 'failed',
          error,
          finishedAt: at,
          workerId: null,
          result: null,
        });
        expect(stored.timeline.at(-1)).toMatchObject({ stage: 'failed', at });
        const claim = await store.claimTask(task.id, { leaseToken: newLeaseToken(), workerId: 'w2' });
        expect(claim).toMatchObject({ claimed: false, task: { state: 'failed' } });
      });

      test('with a stale token changes nothing', async () => {
        const { task } = await createRunning(store);
        const before = await mustGet(store, task.id);
        const error = { code: 'E', message: 'x' };
        for (const retry of [true, false]) {
          expect(await store.failTask(task.id, { leaseToken: newLeaseToken(), error, retry })).toBe(false);
        }
        expect(await mustGet(store, task.id)).toEqual(before);
      });
    });

    section('claimTasks and settleTasks', () => {
      test('claim a batch in input order; items that cannot be claimed do not stop the others', async () => {
        const [a, b] = await store.createTasks([draft(), draft()]);
        const done = await createRunning(store);
        await store.completeTask(done.task.id, { leaseToken: done.token, result: 1 });
        const missing = '01890000-0000-7000-8000-000000000000';
        const tokens = [newLeaseToken(), newLeaseToken(), newLeaseToken(), newLeaseToken()];
        // Given out of id order on purpose: the answer follows the input order.
        const results = await store.claimTasks([
          { id: b!.id, leaseToken: tokens[0]!, workerId: 'w' },
          { id: missing, leaseToken: tokens[1]!, workerId: 'w' },
          { id: done.task.id, leaseToken: tokens[2]!, workerId: 'w' },
          { id: a!.id, leaseToken: tokens[3]!, workerId: 'w' },
        ]);
        expect(results).toMatchObject([
          { claimed: true, task: { id: b!.id, state: 'running', attempts: 1, workerId: 'w' } },
          { claimed: false, task: undefined },
          { claimed: false, task: { id: done.task.id, state: 'succeeded' } },
          { claimed: true, task: { id: a!.id, state: 'running', attempts: 1, workerId: 'w' } },
        ]);
        expect(stages(await mustGet(store, a!.id))).toEqual(['created', 'queued', 'running']);
        // Each claim is fenced by its own token.
        expect(await store.completeTask(a!.id, { leaseToken: tokens[0]!, result: 1 })).toBe(false);
        expect(await store.completeTask(a!.id, { leaseToken: tokens[3]!, result: 1 })).toBe(true);
        expect(await store.claimTasks([])).toEqual([]);
      });

      test('settle a batch: successes, retries and failures, a stale token changing nothing', async () => {
        const ok = await createRunning(store);
        const retry = await createRunning(store, { maxAttempts: 3 });
        const fail = await createRunning(store);
        const stale = await createRunning(store);
        const error = { code: 'E', message: 'bad input' };
        const written = await store.settleTasks([
          {
            id: ok.task.id,
            outcome: 'succeeded',
            leaseToken: ok.token,
            result: { text: 'hi' },
            timing: { computeMs: 2 },
          },
          { id: retry.task.id, outcome: 'failed', leaseToken: retry.token, error, retry: true },
          { id: stale.task.id, outcome: 'succeeded', leaseToken: newLeaseToken(), result: 'no' },
          { id: fail.task.id, outcome: 'failed', leaseToken: fail.token, error, retry: false },
        ]);
        expect(written).toEqual([true, true, false, true]);
        const okTask = await mustGet(store, ok.task.id);
        expect(okTask).toMatchObject({ state: 'succeeded', result: { text: 'hi' } });
        expect(okTask.timeline.at(-1)).toMatchObject({
          stage: 'succeeded',
          attempt: 1,
          data: { computeMs: 2 },
        });
        expect(await mustGet(store, retry.task.id)).toMatchObject({ state: 'queued', error });
        expect(await mustGet(store, fail.task.id)).toMatchObject({ state: 'failed', error });
        expect(await mustGet(store, stale.task.id)).toMatchObject({ state: 'running', workerId: 'w1' });
        expect(await store.completeTask(stale.task.id, { leaseToken: stale.token, result: 1 })).toBe(true);
        expect(await store.settleTasks([])).toEqual([]);
      });
    });

    section('cancelTask', () => {
      test('cancels a queued task', async () => {
        const task = await create(store);
        const at = task.createdAt + 3;
        const cancelled = await store.cancelTask(task.id, at);
        expect(cancelled).toMatchObject({ id: task.id, state: 'cancelled', finishedAt: at });
        const stored = await mustGet(store, task.id);
        expect(stored.state).toBe('cancelled');
        expect(stored.timeline.at(-1)).toMatchObject({ stage: 'cancelled', at });
      });

      test('cancels a running task and fences its worker out', async () => {
        const { task, token } = await createRunning(store);
        expect(await store.cancelTask(task.id)).toMatchObject({ state: 'cancelled', workerId: null });
        expect(await store.completeTask(task.id, { leaseToken: token, result: 'late' })).toBe(false);
        expect(
          await store.failTask(task.id, {
            leaseToken: token,
            error: { code: 'E', message: 'x' },
            retry: true,
          }),
        ).toBe(false);
        expect(await store.releaseTask(task.id, token, 'drain')).toBe(false);
        expect(await mustGet(store, task.id)).toMatchObject({ state: 'cancelled', result: null });
      });

      test('returns undefined for a final or missing task', async () => {
        const { task, token } = await createRunning(store);
        await store.completeTask(task.id, { leaseToken: token, result: 1 });
        expect(await store.cancelTask(task.id)).toBeUndefined();
        expect((await mustGet(store, task.id)).state).toBe('succeeded');
        const queued = await create(store);
        expect(await store.cancelTask(queued.id)).toBeDefined();
        expect(await store.cancelTask(queued.id)).toBeUndefined();
        expect(await store.cancelTask(newId())).toBeUndefined();
      });
    });

    section('releaseTask', () => {
      test('requeues a running task without charging the attempt', async () => {
        const { task, token } = await createRunning(store);
        expect(await store.releaseTask(task.id, token, 'worker draining')).toBe(true);
        const stored = await mustGet(store, task.id);
        expect(stored).toMatchObject({ state: 'queued', attempts: 0, workerId: null });
        expect(stored.timeline.at(-1)).toMatchObject({
          stage: 'released',
          data: { reason: 'worker draining' },
        });
        expect(await store.completeTask(task.id, { leaseToken: token, result: 'late' })).toBe(false);
        const again = await store.claimTask(task.id, { leaseToken: newLeaseToken(), workerId: 'w2' });
        expect(again).toMatchObject({ claimed: true, task: { attempts: 1 } });
      });

      test('returns false for a stale token or a task that is not running', async () => {
        const { task } = await createRunning(store);
        const before = await mustGet(store, task.id);
        expect(await store.releaseTask(task.id, newLeaseToken(), 'x')).toBe(false);
        expect(await mustGet(store, task.id)).toEqual(before);
        const queued = await create(store);
        expect(await store.releaseTask(queued.id, newLeaseToken(), 'x')).toBe(false);
      });
    });

    section('appendTimeline', () => {
      test('appends entries in order with their attempt and data', async () => {
        const task = await create(store);
        const entries = [
          { stage: 'leased', at: task.createdAt + 1, attempt: 1, data: { queue: 'resnet@1' } },
          { stage: 'started', at: task.createdAt + 1 },
          { stage: 'batched', at: task.createdAt + 2, data: { batchSize: 8 } },
        ];
        await store.appendTimeline(task.id, entries.slice(0, 2));
        await store.appendTimeline(task.id, entries.slice(2));
        const { timeline } = await mustGet(store, task.id);
        expect(timeline.slice(2)).toEqual(entries);
      });

      test('does nothing for a missing task', async () => {
        const id = newId();
        await store.appendTimeline(id, [{ stage: 'started', at: Date.now() }]);
        expect(await store.getTask(id)).toBeUndefined();
      });
    });

    section('result cache', () => {
      const succeed = async (overrides: Partial<NewTask>, result: unknown, at?: number) => {
        const { task, token } = await createRunning(store, overrides);
        await store.completeTask(task.id, { leaseToken: token, result, ...(at === undefined ? {} : { at }) });
        return task;
      };

      test("answers with a succeeded task's result; misses for another version, input, params or tenant", async () => {
        const input = { sha256: sha256Hex('cache image'), size: 3, mediaType: 'image/png' };
        const task = await succeed({ input, params: { topK: 3 } }, { label: 'cat' });
        const key = cacheKeyOf(task);
        expect(await store.getCachedResult(key)).toEqual({ result: { label: 'cat' }, taskId: task.id });
        expect(
          await store.getCachedResult({ ...key, target: { kind: 'model', name: 'resnet', version: '2' } }),
        ).toBeUndefined();
        expect(
          await store.getCachedResult({ ...key, target: { kind: 'model', name: 'vgg', version: '1' } }),
        ).toBeUndefined();
        expect(await store.getCachedResult({ ...key, inputSha256: sha256Hex('other') })).toBeUndefined();
        expect(await store.getCachedResult({ ...key, paramsHash: paramsHash({}) })).toBeUndefined();
        // Another tenant must not even learn that this input was submitted.
        expect(await store.getCachedResult({ ...key, owner: 'mallory' })).toBeUndefined();
      });

      test('only a succeeded task answers: not one queued, running, failed or cancelled', async () => {
        const input = { sha256: sha256Hex('not yet'), size: 3, mediaType: 'image/png' };
        const queued = await create(store, { input });
        await createRunning(store, { input });
        const { task: failed, token } = await createRunning(store, { input });
        await store.failTask(failed.id, {
          leaseToken: token,
          error: { code: 'INFERQ_WORK_FAILED', message: 'no' },
          retry: false,
        });
        const cancelled = await create(store, { input });
        await store.cancelTask(cancelled.id);
        expect(await store.getCachedResult(cacheKeyOf(queued))).toBeUndefined();
        const done = await succeed({ input }, 'yes');
        expect(await store.getCachedResult(cacheKeyOf(queued))).toEqual({ result: 'yes', taskId: done.id });
      });

      test("a pipeline's steps never answer, not even a transform stored under the pipeline's target", async () => {
        const target = { kind: 'pipeline' as const, name: 'ocr', version: '1' };
        const input = { sha256: sha256Hex('scan'), size: 3, mediaType: 'image/png' };
        const { task: parent } = await createRunning(store, { target, input });
        await store.createChildTasks(parent.id, [
          draft({
            id: pipelineChildId(parent.id, 'crop', 0),
            requestId: parent.id,
            target,
            input,
            parent: { id: parent.id, stepId: 'crop', itemIndex: 0 },
            cachedResult: { result: ['crop blobs'] },
          }),
        ]);
        const key = { owner: parent.owner, target, inputSha256: input.sha256, paramsHash: parent.paramsHash };
        expect(await store.getCachedResult(key)).toBeUndefined();
        // Nor does a model of the same name and version answer for the pipeline.
        await succeed({ target: { kind: 'model', name: 'ocr', version: '1' }, input }, 'model');
        expect(await store.getCachedResult(key)).toBeUndefined();
      });

      test('the newest success answers; a task created from the cache answers too', async () => {
        const input = { sha256: sha256Hex('twice'), size: 3, mediaType: 'image/png' };
        await succeed({ input }, 1);
        const second = await succeed({ input }, 2);
        expect(await store.getCachedResult(cacheKeyOf(second))).toEqual({ result: 2, taskId: second.id });
        const [hit] = await store.createTasks([draft({ input, cachedResult: { result: 2 } })]);
        expect(await store.getCachedResult(cacheKeyOf(second))).toEqual({ result: 2, taskId: hit!.id });
      });

      test(`a lookup reads only the tenant's newest ${cacheLookupWindow} tasks of the input, however many there are`, async () => {
        const input = { sha256: sha256Hex('popular'), size: 3, mediaType: 'image/png' };
        const answer = await succeed({ input }, 'old');
        const key = cacheKeyOf(answer);
        // Other tenants' tasks of the same input, however many, are not in the tenant's window…
        await store.createTasks(
          Array.from({ length: cacheLookupWindow + 10 }, () => draft({ input, owner: 'other' })),
        );
        expect(await store.getCachedResult(key)).toEqual({ result: 'old', taskId: answer.id });
        // …the tenant's own tasks of the input are (here with other params).
        const mine = (params: Record<string, unknown>) => draft({ input, owner: answer.owner, params });
        await store.createTasks(Array.from({ length: cacheLookupWindow - 1 }, (_, i) => mine({ i })));
        expect(await store.getCachedResult(key)).toEqual({ result: 'old', taskId: answer.id });
        await store.createTasks([mine({ i: 'last' })]);
        // One more and the answer is the tenant's 257th newest: not looked at, so the repeat runs again.
        expect(await store.getCachedResult(key)).toBeUndefined();
        // A newer success of the tenant's answers again.
        const fresh = await succeed({ input }, 'new');
        expect(await store.getCachedResult(key)).toEqual({ result: 'new', taskId: fresh.id });
      });
    });

    section('referencedInputs', () => {
      test('returns exactly the hashes that some task uses as input', async () => {
        const a = await create(store);
        const b = await create(store);
        const unused = Array.from({ length: 40_000 }, (_, i) => sha256Hex(`unused-${i}`));
        const found = await store.referencedInputs([
          a.input.sha256,
          ...unused,
          b.input.sha256,
          a.input.sha256,
        ]);
        expect(found).toEqual(new Set([a.input.sha256, b.input.sha256]));
        expect(await store.referencedInputs([])).toEqual(new Set());
        await store.deleteTask(a.id);
        expect(await store.referencedInputs([a.input.sha256, b.input.sha256])).toEqual(
          new Set([b.input.sha256]),
        );
      });
    });

    section('retention', () => {
      test('deleteFinishedBefore deletes only final tasks finished before the cutoff', async () => {
        const finish = async (kind: 'succeeded' | 'failed' | 'cancelled', at: number): Promise<string> => {
          if (kind === 'cancelled') {
            const task = await create(store);
            await store.cancelTask(task.id, at);
            return task.id;
          }
          const { task, token } = await createRunning(store);
          if (kind === 'succeeded') await store.completeTask(task.id, { leaseToken: token, result: 1, at });
          else
            await store.failTask(task.id, {
              leaseToken: token,
              error: { code: 'E', message: 'x' },
              retry: false,
              at,
            });
          return task.id;
        };
        const old = [
          await finish('succeeded', 1_000),
          await finish('failed', 1_500),
          await finish('cancelled', 1_999),
        ];
        const atCutoff = await finish('succeeded', 2_000);
        const recent = await finish('failed', 5_000);
        const queued = await create(store);
        const { task: running } = await createRunning(store);

        expect(await store.deleteFinishedBefore(2_000)).toEqual({ deletedTasks: 3 });
        for (const id of old) expect(await store.getTask(id)).toBeUndefined();
        for (const id of [atCutoff, recent, queued.id, running.id])
          expect(await store.getTask(id)).toBeDefined();

        expect(await store.deleteFinishedBefore(Number.MAX_SAFE_INTEGER)).toEqual({ deletedTasks: 2 });
        const left = (await store.listTasks({})).items.map((t) => t.id).sort();
        expect(left).toEqual([queued.id, running.id].sort());
      });

      test('deleteFinishedBefore takes timelines and results (the cache) with the tasks', async () => {
        const { task, token } = await createRunning(store);
        await store.appendTimeline(task.id, [{ stage: 'started', at: 1 }]);
        await store.completeTask(task.id, { leaseToken: token, result: 'r', at: 1_000 });
        const key = cacheKeyOf(task);
        expect(await store.getCachedResult(key)).toEqual({ result: 'r', taskId: task.id });

        expect(await store.deleteFinishedBefore(2_000)).toEqual({ deletedTasks: 1 });
        expect(await store.getCachedResult(key)).toBeUndefined();
        // A task created again under the same id starts with a clean timeline and no result.
        const [reborn] = await store.createTasks([draft({ id: task.id })]);
        const stored = await mustGet(store, reborn!.id);
        expect(stages(stored)).toEqual(['created', 'queued']);
        expect(stored.result).toBeNull();
      });

      test('deleteTask deletes a task in any state, and it no longer answers from the cache', async () => {
        const queued = await create(store);
        const { task: done, token } = await createRunning(store);
        await store.completeTask(done.id, { leaseToken: token, result: 'r' });
        const key = cacheKeyOf(done);
        expect(await store.getCachedResult(key)).toEqual({ result: 'r', taskId: done.id });
        expect(await store.deleteTask(queued.id)).toBe(true);
        expect(await store.deleteTask(done.id)).toBe(true);
        expect(await store.getTask(queued.id)).toBeUndefined();
        expect(await store.getTask(done.id)).toBeUndefined();
        expect(await store.getCachedResult(key)).toBeUndefined();
        expect(await store.deleteTask(queued.id)).toBe(false);
        expect(await store.deleteTask(newId())).toBe(false);
      });
    });

    section('storedInputBytes', () => {
      test('storedInputBytes counts each distinct input of the tenant once', async () => {
        const input = (name: string, size: number) => ({
          sha256: sha256Hex(name),
          size,
          mediaType: 'text/plain',
        });
        expect(await store.storedInputBytes('alice')).toBe(0);
        const first = await create(store, { input: input('a', 3_000_000_000) });
        await create(store, {
          input: input('a', 3_000_000_000),
          target: { kind: 'model', name: 'bert', version: '2' },
        });
        await create(store, { input: input('b', 50) });
        await create(store, { owner: 'bob', input: input('a', 3_000_000_000) });
        expect(await store.storedInputBytes('alice')).toBe(3_000_000_050);
        expect(await store.storedInputBytes('bob')).toBe(3_000_000_000);
        await store.deleteTask(first.id);
        expect(await store.storedInputBytes('alice')).toBe(3_000_000_050);
      });
    });

    section('child tasks', () => {
      const pipelineTask = () => runningPipelineTask(store);

      test('topLevel lists and counts the tasks a client submitted, not the steps of pipeline tasks', async () => {
        const { task: parent } = await pipelineTask();
        const [plain] = await store.createTasks([
          draft({ target: { kind: 'model', name: 'ocr-rec', version: '4' } }),
        ]);
        await store.createChildTasks(parent.id, [child(parent.id, 'rec', 0), child(parent.id, 'rec', 1)]);
        const owner = parent.owner;
        const ids = async (filter: TaskFilter) =>
          (await store.listTasks(filter)).items.map((t) => t.id).sort();
        expect(await ids({ owner, topLevel: true })).toEqual([parent.id, plain!.id].sort());
        expect(await ids({ owner, topLevel: true, target: 'ocr-rec' })).toEqual([plain!.id]);
        expect(await ids({ owner, topLevel: true, state: ['queued', 'running'] })).toEqual(
          [parent.id, plain!.id].sort(),
        );
        expect((await store.countTasks({ owner, topLevel: true })).queued).toBe(1);
        // Without it the steps are there, and their pipeline task's id lists them.
        expect(await ids({ owner, target: 'ocr-rec' })).toHaveLength(3);
        expect(await ids({ owner, requestId: parent.id })).toEqual(
          [pipelineChildId(parent.id, 'rec', 0), pipelineChildId(parent.id, 'rec', 1)].sort(),
        );
        // A cursor carries the filter: paging on keeps leaving the steps out.
        const first = await store.listTasks({ owner, topLevel: true }, { limit: 1 });
        const second = await store.listTasks(
          { owner, topLevel: true },
          { limit: 1, cursor: first.nextCursor! },
        );
        expect([...first.items, ...second.items].map((t) => t.id).sort()).toEqual(
          [parent.id, plain!.id].sort(),
        );
        await expect(store.listTasks({ owner }, { cursor: first.nextCursor! })).rejects.toMatchObject({
          code: 'INFERQ_INVALID_CURSOR',
        });
      });

      test('creates queued children of a running parent; parent round-trips; listChildTasks orders by step then item', async () => {
        const { task: parent } = await pipelineTask();
        const created = await store.createChildTasks(parent.id, [
          child(parent.id, 'rec', 1),
          child(parent.id, 'rec', 0),
          child(parent.id, 'det', 0, { cachedResult: { result: { boxes: [] } } }),
        ]);
        expect(created?.map((t) => [t.parent?.stepId, t.parent?.itemIndex, t.state])).toEqual([
          ['rec', 1, 'queued'],
          ['rec', 0, 'queued'],
          ['det', 0, 'succeeded'],
        ]);
        const rec1 = await mustGet(store, pipelineChildId(parent.id, 'rec', 1));
        expect(rec1.parent).toEqual({ id: parent.id, stepId: 'rec', itemIndex: 1 });
        expect(stages(rec1)).toEqual(['created', 'queued']);
        expect((await mustGet(store, parent.id)).parent).toBeUndefined();
        const steps = (await mustGet(store, parent.id)).timeline.filter((e) => e.stage.startsWith('step-'));
        expect(steps).toEqual([
          {
            stage: 'step-queued',
            at: expect.any(Number),
            data: { step: 'rec', items: 2, target: 'ocr-rec@4' },
          },
          { stage: 'step-computed', at: expect.any(Number), data: { step: 'det', items: 1 } },
        ]);
        const children = await store.listChildTasks(parent.id);
        expect(children.map((t) => `${t.parent?.stepId}/${t.parent?.itemIndex}`)).toEqual([
          'det/0',
          'rec/0',
          'rec/1',
        ]);
        expect(children[0]!.result).toEqual({ boxes: [] });
        expect(await store.listChildTasks(newId())).toEqual([]);
      });

      test('listChildTasksChangedSince returns every child, then the ones created or changed since its cursor', async () => {
        const { task: parent } = await pipelineTask();
        await store.createChildTasks(parent.id, [
          child(parent.id, 'rec', 1),
          child(parent.id, 'rec', 0),
          child(parent.id, 'det', 0, { cachedResult: { result: { boxes: [] } } }),
        ]);
        const key = (t: Task) => `${t.parent?.stepId}/${t.parent?.itemIndex}`;
        const first = await store.listChildTasksChangedSince(parent.id);
        expect(first.tasks).toEqual(await store.listChildTasks(parent.id));
        expect(typeof first.cursor).toBe('string');

        // What changed since: a child finished (its result loaded), one retried, one created.
        const rec0 = pipelineChildId(parent.id, 'rec', 0);
        const rec1 = pipelineChildId(parent.id, 'rec', 1);
        const token0 = newLeaseToken();
        const token1 = newLeaseToken();
        expect((await store.claimTask(rec0, { leaseToken: token0, workerId: 'w1' })).claimed).toBe(true);
        expect((await store.claimTask(rec1, { leaseToken: token1, workerId: 'w1' })).claimed).toBe(true);
        const middle = await store.listChildTasksChangedSince(parent.id, first.cursor);
        expect(await store.completeTask(rec0, { leaseToken: token0, result: { text: 'read' } })).toBe(true);
        const error = { code: 'INFERQ_INTERNAL' as const, message: 'try again' };
        expect(await store.failTask(rec1, { leaseToken: token1, error, retry: true })).toBe(true);
        await store.createChildTasks(parent.id, [child(parent.id, 'cls', 0)]);
        const now = new Map((await store.listChildTasks(parent.id)).map((t) => [key(t), t]));
        const since = await store.listChildTasksChangedSince(parent.id, middle.cursor);
        const changed = since.tasks.map(key);
        expect(changed).toEqual(expect.arrayContaining(['cls/0', 'rec/0', 'rec/1']));
        // Ordered by step then item, each as the store holds it now.
        expect(changed).toEqual([...changed].sort());
        for (const t of since.tasks) expect(t).toEqual(now.get(key(t)));
        expect(now.get('rec/0')).toMatchObject({ state: 'succeeded', result: { text: 'read' } });
        expect(now.get('rec/1')?.state).toBe('queued');

        // Nothing changed: whatever comes back is unchanged; a cursor of a read with no rows still works.
        const again = await store.listChildTasksChangedSince(parent.id, since.cursor);
        for (const t of again.tasks) expect(t).toEqual(now.get(key(t)));
        const none = await store.listChildTasksChangedSince(newId());
        expect(none.tasks).toEqual([]);
        await store.createChildTasks(parent.id, [child(parent.id, 'cls', 1)]);
        const later = await store.listChildTasksChangedSince(parent.id, again.cursor);
        expect(later.tasks.map(key)).toContain('cls/1');
      });

      test('creating the same child again is a no-op that keeps the first', async () => {
        const { task: parent } = await pipelineTask();
        await store.createChildTasks(parent.id, [child(parent.id, 'cls', 0, { params: { first: true } })]);
        const again = await store.createChildTasks(parent.id, [
          child(parent.id, 'cls', 0, { params: { first: false } }),
          child(parent.id, 'cls', 1),
        ]);
        expect(again?.map((t) => t.parent?.itemIndex)).toEqual([1]);
        const steps = (await mustGet(store, parent.id)).timeline.filter((e) => e.stage === 'step-queued');
        expect(steps.map((e) => e.data)).toEqual([
          { step: 'cls', items: 1, target: 'ocr-rec@4' },
          { step: 'cls', items: 1, target: 'ocr-rec@4' },
        ]);
        const first = await mustGet(store, pipelineChildId(parent.id, 'cls', 0));
        expect(first.params).toEqual({ first: true });
        expect(stages(first)).toEqual(['created', 'queued']);
        expect(await store.listChildTasks(parent.id)).toHaveLength(2);
      });

      test('creates nothing under a parent that is queued, final or missing', async () => {
        const queued = await create(store, { target: { kind: 'pipeline', name: 'ocr', version: '1' } });
        expect(await store.createChildTasks(queued.id, [child(queued.id, 'det', 0)])).toBeUndefined();
        const { task: done, token } = await pipelineTask();
        await store.completeTask(done.id, { leaseToken: token, result: {} });
        expect(await store.createChildTasks(done.id, [child(done.id, 'det', 0)])).toBeUndefined();
        const missing = newId();
        expect(await store.createChildTasks(missing, [child(missing, 'det', 0)])).toBeUndefined();
        expect(await store.listChildTasks(queued.id)).toEqual([]);
        expect(await store.listChildTasks(done.id)).toEqual([]);
      });

      test('refuses a draft without an id or with another parent', async () => {
        const { task: parent } = await pipelineTask();
        const noId = child(parent.id, 'det', 0);
        delete noId.id;
        await expectCode(store.createChildTasks(parent.id, [noId]), 'INFERQ_INTERNAL');
        const other = child(newId(), 'det', 0);
        await expectCode(store.createChildTasks(parent.id, [other]), 'INFERQ_INTERNAL');
        expect(await store.listChildTasks(parent.id)).toEqual([]);
      });

      test('cancelTask of a parent cancels its unfinished children and leaves finished ones', async () => {
        const { task: parent } = await pipelineTask();
        await store.createChildTasks(parent.id, [
          child(parent.id, 'det', 0, { cachedResult: { result: 1 } }),
          child(parent.id, 'rec', 0),
          child(parent.id, 'rec', 1),
        ]);
        const running = pipelineChildId(parent.id, 'rec', 1);
        expect(
          (await store.claimTask(running, { leaseToken: newLeaseToken(), workerId: 'w2' })).claimed,
        ).toBe(true);
        expect((await store.cancelTask(parent.id))?.state).toBe('cancelled');
        const states = (await store.listChildTasks(parent.id)).map((t) => t.state);
        expect(states).toEqual(['succeeded', 'cancelled', 'cancelled']);
        const cancelled = await mustGet(store, running);
        expect(cancelled.timeline.at(-1)).toMatchObject({
          stage: 'cancelled',
          data: { parentId: parent.id },
        });
        expect(await store.createChildTasks(parent.id, [child(parent.id, 'rec', 2)])).toBeUndefined();
      });
    });

    section('lifecycle', () => {
      test('ping resolves on an open store', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        expect(store.kind).toMatch(/\S/);
      });

      test('close can be called twice, and ping then fails with INFERQ_STORE_UNAVAILABLE', async () => {
        await store.close();
        await store.close();
        await expectCode(store.ping(), 'INFERQ_STORE_UNAVAILABLE');
      });
    });
  });
}
