import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import { newLeaseToken } from '../../src/core/ids.js';
import { pipelineChildId } from '../../src/core/pipeline-ids.js';
import type { NewTask, Task, TaskWithTimeline } from '../../src/core/task.js';
import { type ErrorCode, InferqError } from '../../src/errors/index.js';
import type { TaskStore } from '../../src/store/task-store.js';

/*
 * What the task database's contract suites share (task-store, webhook-deliveries,
 * idempotency-keys, feedback and task-stats .contract.ts): drafts and helpers that create tasks
 * through the `TaskStore` role, and the harness of sections, tests and skips.
 */

/** Builds a fresh, empty store for one test, and disposes of it after. */
export type StoreFactory<S> = () => Promise<{ store: S; cleanup(): Promise<void> }>;

export interface ContractOptions {
  /**
   * `"<section> <test title>"` (e.g. `"listTasks limit defaults to 50 and is clamped to 1..1000"`)
   * → why this adapter cannot pass it. The reason is shown in the skipped test's name.
   */
  skip?: Record<string, string>;
}

/**
 * The sections and tests of one suite: a test is skipped only by its `"<section> <title>"` key in
 * `options.skip`, and `skipListTest` fails on a key that names no test (a typo would silently run
 * the test it meant to skip). Call `skipListTest` last, inside the suite's describe.
 */
export function contractHarness(options: ContractOptions): {
  section(sectionName: string, body: () => void): void;
  test(title: string, fn: () => Promise<void>): void;
  skipListTest(): void;
} {
  const skip = options.skip ?? {};
  const titles = new Set<string>();
  // Skip keys read as "<section> <test title>", e.g. "claimTask takes over a task running under…".
  let current = '';
  return {
    section(sectionName, body) {
      describe(sectionName, () => {
        current = sectionName;
        body();
        current = '';
      });
    },
    test(title, fn) {
      const key = `${current} ${title}`;
      if (titles.has(key)) throw new Error(`duplicate contract test title: ${key}`);
      titles.add(key);
      const reason = skip[key];
      if (reason === undefined) it(title, fn);
      else it.skip(`${title} — skipped: ${reason}`, fn);
    },
    skipListTest() {
      it('skip list names only tests of this suite', () => {
        expect(Object.keys(skip).filter((title) => !titles.has(title))).toEqual([]);
      });
    },
  };
}

/**
 * One contract suite: a fresh store from `factory` for each test (disposed of after it), the
 * sections and tests of {@link contractHarness}, and its skip-list check last. `store` in `body`
 * stands for the running test's store: each property read goes to that store (its methods bound
 * to it), so a test reads `store.createTasks(…)` however many stores the suite opens.
 */
export function describeContract<S extends object>(
  title: string,
  factory: StoreFactory<S>,
  options: ContractOptions,
  body: (suite: {
    store: S;
    section(sectionName: string, body: () => void): void;
    test(title: string, fn: () => Promise<void>): void;
  }) => void,
): void {
  const { section, test, skipListTest } = contractHarness(options);
  let current: { store: S; cleanup(): Promise<void> } | undefined;
  const store = new Proxy({} as S, {
    get(_, key) {
      if (current === undefined) throw new Error('a contract store is used outside a test');
      const value: unknown = Reflect.get(current.store, key);
      return typeof value === 'function' ? value.bind(current.store) : value;
    },
  });
  describe(title, () => {
    beforeEach(async () => {
      current = await factory();
    });
    afterEach(async () => {
      await current?.cleanup();
      current = undefined;
    });
    body({ store, section, test });
    skipListTest();
  });
}

let inputCounter = 0;

/** A valid new task with a unique input; override what a test cares about. */
export function draft(overrides: Partial<NewTask> = {}): NewTask {
  inputCounter += 1;
  return {
    requestId: 'req-1',
    owner: 'alice',
    target: { kind: 'model', name: 'resnet', version: '1' },
    input: { sha256: sha256Hex(`input-${inputCounter}`), size: 1234, mediaType: 'image/png' },
    ...overrides,
  };
}

export async function create(store: TaskStore, overrides: Partial<NewTask> = {}): Promise<Task> {
  const [task] = await store.createTasks([draft(overrides)]);
  return task!;
}

/** The lease `createRunning` claims under (the default, 30 s). */
export const leaseMs = 30_000;

/** A task claimed by worker `w1` (lease `leaseMs`), with the lease token that fences it. */
export async function createRunning(
  store: TaskStore,
  overrides: Partial<NewTask> = {},
): Promise<{ task: Task; token: string }> {
  const created = await create(store, overrides);
  const token = newLeaseToken();
  const claim = await store.claimTask(created.id, {
    leaseToken: token,
    workerId: 'w1',
    leaseMs,
    at: created.createdAt + 1,
  });
  expect(claim.claimed).toBe(true);
  return { task: claim.task!, token };
}

/** The result cache key that answers a repeat of `task`. */
export function cacheKeyOf(task: Task) {
  return {
    owner: task.owner,
    target: task.target,
    inputSha256: task.input.sha256,
    paramsHash: task.paramsHash,
  };
}

export async function mustGet(store: TaskStore, id: string): Promise<TaskWithTimeline> {
  const task = await store.getTask(id);
  expect(task, `task ${id} should exist`).toBeDefined();
  return task!;
}

export const stages = (task: TaskWithTimeline): string[] => task.timeline.map((e) => e.stage);

export async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<InferqError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InferqError);
  expect((error as InferqError).code).toBe(code);
  return error as InferqError;
}

/** Resolves once `Date.now()` has moved past `ms`, so the next task gets a later `createdAt`. */
export async function clockPast(ms: number): Promise<void> {
  while (Date.now() <= ms) await new Promise((resolve) => setTimeout(resolve, 1));
}

export async function allPages(
  store: TaskStore,
  filter: Parameters<TaskStore['listTasks']>[0],
  limit: number,
) {
  const ids: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.listTasks(filter, cursor === undefined ? { limit } : { limit, cursor });
    ids.push(...page.items.map((t) => t.id));
    cursor = page.nextCursor;
    pages += 1;
  } while (cursor !== undefined && pages < 10_000);
  return ids;
}

/** A step of pipeline task `parentId` (a model step on `ocr-rec@4` unless overridden). */
export const child = (
  parentId: string,
  stepId: string,
  itemIndex: number,
  overrides: Partial<NewTask> = {},
) =>
  draft({
    id: pipelineChildId(parentId, stepId, itemIndex),
    requestId: parentId,
    target: { kind: 'model', name: 'ocr-rec', version: '4' },
    parent: { id: parentId, stepId, itemIndex },
    ...overrides,
  });

/** A running pipeline task (`ocr@1`), ready to take steps. */
export const runningPipelineTask = (store: TaskStore) =>
  createRunning(store, { target: { kind: 'pipeline', name: 'ocr', version: '1' } });
