import type { FastifyBaseLogger } from 'fastify';
import type { NewTask, Task } from '../../core/task.js';
import { type TenantWeights, taskJobsByQueue } from '../../core/task-job.js';
import type { Broker } from '../../queue/broker.js';
import type { TaskStore } from '../../store/task-store.js';

interface Pending {
  drafts: readonly NewTask[];
  resolve(tasks: Task[]): void;
  reject(err: unknown): void;
}

/**
 * Writes submissions with group commit: the submissions that reach it in one turn of the event
 * loop are created in one store transaction and enqueued with one broker call per queue. Under
 * load, requests arrive together, and a commit (a WAL append, a PostgreSQL round trip) per
 * request is what bounded the submit rate; alone, a request waits for nothing (the group is
 * flushed on `setImmediate`, right after the current I/O callbacks).
 *
 * Each request keeps its all-or-none guarantee: when a group's transaction fails, its requests
 * are retried one by one, so only the request at fault sees the error.
 *
 * Where the store writes the jobs itself (`jobsWrittenByStore`: the embedded layout, queue and
 * tasks in one SQLite file), the group's transaction creates the tasks and their jobs together
 * and the writer enqueues nothing. Elsewhere, store first, broker second: if the enqueue fails
 * the tasks are still `queued` in the store and the outbox sweeper enqueues them; the reverse
 * order could run a job whose task does not exist.
 */
export class TaskWriter {
  readonly #store: TaskStore;
  readonly #broker: Broker;
  readonly #logger: FastifyBaseLogger;
  readonly #weightOf: WeightOf | undefined;
  readonly #jobsWrittenByStore: boolean;
  #pending: Pending[] = [];

  constructor(store: TaskStore, broker: Broker, logger: FastifyBaseLogger, options: TaskWriterOptions = {}) {
    this.#store = store;
    this.#broker = broker;
    this.#logger = logger;
    this.#weightOf = options.weightOf;
    this.#jobsWrittenByStore = options.jobsWrittenByStore ?? false;
  }

  /** Creates the drafts (all or none) and enqueues the queued ones; resolves with the tasks in draft order. */
  write(drafts: readonly NewTask[]): Promise<Task[]> {
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) this.#schedule(this.#pending);
      this.#pending.push({ drafts, resolve, reject });
    });
  }

  /**
   * When a group is flushed. Normally on `setImmediate`, after this turn's I/O callbacks, so that
   * the requests read from many sockets share one transaction. But requests released together by
   * one callback (the inline blob store's group commit resolves a whole group of puts at once)
   * have all reached the writer once that callback's microtasks have run, and from there (the
   * check phase) `setImmediate` would wait a whole event-loop turn more: a group that already
   * has several members then is flushed at once (bench/http at 32 clients: +5.5% tasks/s).
   */
  #schedule(group: readonly Pending[]): void {
    const flushIf = (now: boolean): void => {
      if (now && this.#pending === group) void this.#flush();
    };
    process.nextTick(() => flushIf(group.length > 1));
    setImmediate(() => flushIf(true));
  }

  async #flush(): Promise<void> {
    const group = this.#pending;
    this.#pending = [];
    let created: Array<Task[] | undefined>;
    try {
      // With the store writing the jobs, the weights go into its transaction, so they are read
      // before it; otherwise after, for the enqueue.
      const weights = this.#jobsWrittenByStore
        ? await this.#weights(group.flatMap((pending) => pending.drafts))
        : undefined;
      created = await this.#create(group, weights);
    } catch (err) {
      for (const pending of group) pending.reject(err);
      return;
    }
    if (!this.#jobsWrittenByStore) await this.#enqueue(created.flatMap((tasks) => tasks ?? []));
    for (const [index, pending] of group.entries()) {
      const tasks = created[index];
      if (tasks !== undefined) pending.resolve(tasks);
    }
  }

  /**
   * One transaction for the group; on failure, one per request: the faulty one is rejected here
   * (undefined in the answer), the others are created.
   */
  async #create(group: readonly Pending[], weights?: TenantWeights): Promise<Array<Task[] | undefined>> {
    const options = weights === undefined ? {} : { weights };
    if (group.length === 1) return [await this.#store.createTasks(group[0]!.drafts, options)];
    try {
      const tasks = await this.#store.createTasks(
        group.flatMap((pending) => pending.drafts),
        options,
      );
      let offset = 0;
      return group.map((pending) => {
        const start = offset;
        offset += pending.drafts.length;
        return tasks.slice(start, offset);
      });
    } catch {
      const created: Array<Task[] | undefined> = [];
      for (const pending of group) {
        try {
          created.push(await this.#store.createTasks(pending.drafts, options));
        } catch (err) {
          pending.reject(err);
          created.push(undefined);
        }
      }
      return created;
    }
  }

  async #enqueue(tasks: readonly Task[]): Promise<void> {
    const weights = await this.#weights(tasks);
    for (const [queue, jobs] of taskJobsByQueue(tasks, undefined, weights)) {
      try {
        await this.#broker.enqueueMany(queue, jobs);
      } catch (err) {
        // The tasks are durable and `queued`: the outbox sweeper enqueues them later.
        this.#logger.warn(
          { err, queue, tasks: jobs.length },
          'enqueue failed; tasks left to the outbox sweeper',
        );
      }
    }
  }

  /** The weights of the tasks' owners; a lookup that fails leaves the broker's last known weight. */
  async #weights(tasks: ReadonlyArray<{ owner: string }>): Promise<Map<string, number>> {
    const weights = new Map<string, number>();
    if (this.#weightOf === undefined) return weights;
    for (const owner of new Set(tasks.map((task) => task.owner))) {
      try {
        const weight = await this.#weightOf(owner);
        if (weight !== undefined) weights.set(owner, weight);
      } catch (err) {
        this.#logger.warn({ err, tenant: owner }, 'tenant weight unavailable; the broker keeps the last one');
      }
    }
    return weights;
  }
}

type WeightOf = (tenant: string) => Promise<number | undefined>;

export interface TaskWriterOptions {
  /**
   * A tenant's fair-share weight (the auth store's, cached); each job carries it, so the broker
   * leases by the tenant's current weight (JobInput.weight).
   */
  weightOf?: WeightOf;
  /**
   * The store writes the queued tasks' jobs in `createTasks`' transaction (`Backends.jobsWrittenByStore`):
   * the writer passes the weights to it and enqueues nothing itself.
   */
  jobsWrittenByStore?: boolean;
}
