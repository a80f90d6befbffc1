import type { FastifyBaseLogger } from 'fastify';
import { settledTaskIds, startedTaskIds, taskEventsChannel } from '../core/task-events.js';
import type { Broker, Unsubscribe } from '../queue/broker.js';

/**
 * A standing interest in some tasks, from before a request's first read of them until it ends.
 * An announcement that comes while its holder is reading the store is kept, not lost: the next
 * `next()` returns at once, so the holder reads again.
 */
export class TaskWatch {
  readonly #forget: () => void;
  #announced = false;
  #wake: (() => void) | undefined;

  /** `starts`: also woken when one of the tasks is started, not only when it settles. */
  constructor(
    forget: () => void,
    readonly starts = false,
  ) {
    this.#forget = forget;
  }

  /**
   * Resolves at once when one of the tasks was announced since the previous call returned;
   * otherwise at the next announcement, after `maxMs`, or when `signal` aborts.
   */
  async next(maxMs: number, signal?: AbortSignal): Promise<void> {
    if (!this.#announced && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          this.#wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, maxMs);
        signal?.addEventListener('abort', done, { once: true });
        this.#wake = done;
      });
    }
    this.#announced = false;
  }

  /** @internal Called by TaskWakeups. */
  announce(): void {
    this.#announced = true;
    this.#wake?.();
  }

  close(): void {
    this.#forget();
    this.#wake?.();
  }
}

/**
 * Lets a request wait for "one of these tasks changed": event streams and synchronous
 * predictions sleep here between reads of the store, and wake as soon as a worker announces
 * that one of their tasks settled (core/task-events.ts), or when the poll interval is up — the
 * store stays the truth, and a lost announcement costs at most one interval. A watch that asks
 * for it (an event stream, which shows `running`) also wakes when one of its tasks is started;
 * the others (a prediction, a long poll, which only want a final task) do not.
 *
 * One subscription per API process, taken on the first watch.
 */
export class TaskWakeups {
  readonly #broker: Broker;
  readonly #logger: FastifyBaseLogger;
  readonly #watches = new Map<string, Set<TaskWatch>>();
  #subscription: Promise<Unsubscribe | undefined> | undefined;

  constructor(broker: Broker, logger: FastifyBaseLogger) {
    this.#broker = broker;
    this.#logger = logger;
  }

  /** Watches `taskIds` (settlements; with `starts`, starts too) until the watch is closed. */
  async watch(taskIds: readonly string[], options: { starts?: boolean } = {}): Promise<TaskWatch> {
    await this.#subscribe();
    const ids = [...new Set(taskIds)];
    const watch = new TaskWatch(() => {
      for (const id of ids) {
        const set = this.#watches.get(id);
        set?.delete(watch);
        if (set?.size === 0) this.#watches.delete(id);
      }
    }, options.starts);
    for (const id of ids) {
      const set = this.#watches.get(id);
      if (set === undefined) this.#watches.set(id, new Set([watch]));
      else set.add(watch);
    }
    return watch;
  }

  /**
   * Wakes the watches of these tasks (an announcement, or a change made by this process); for
   * tasks only `started`, just the watches that asked for starts.
   */
  notify(taskIds: readonly string[], change: 'settled' | 'started' = 'settled'): void {
    for (const id of taskIds) {
      const set = this.#watches.get(id);
      if (set === undefined) continue;
      for (const watch of set) if (change === 'settled' || watch.starts) watch.announce();
    }
  }

  async close(): Promise<void> {
    const unsubscribe = await this.#subscription;
    this.#subscription = undefined;
    await unsubscribe?.();
  }

  #subscribe(): Promise<Unsubscribe | undefined> {
    this.#subscription ??= this.#broker
      .subscribe(taskEventsChannel, (message) => {
        this.notify(settledTaskIds(message));
        this.notify(startedTaskIds(message), 'started');
      })
      .catch((err: unknown) => {
        // Watches still poll; try to subscribe again on a later watch.
        this.#logger.warn({ err }, 'cannot subscribe to task events; event streams fall back to polling');
        this.#subscription = undefined;
        return undefined;
      });
    return this.#subscription;
  }
}
