import type { FastifyBaseLogger } from 'fastify';
import { settledTaskIds, taskEventsChannel } from '../core/task-events.js';
import type { Broker, Unsubscribe } from '../queue/broker.js';

/**
 * Lets a request wait for "one of these tasks changed": event streams and synchronous
 * predictions sleep here between reads of the store, and wake as soon as a worker announces
 * that one of their tasks settled (core/task-events.ts), or when the poll interval is up — the
 * store stays the truth, and a lost announcement costs at most one interval.
 *
 * One subscription per API process, taken on the first wait.
 */
export class TaskWakeups {
  readonly #broker: Broker;
  readonly #logger: FastifyBaseLogger;
  readonly #waiters = new Map<string, Set<() => void>>();
  #subscription: Promise<Unsubscribe | undefined> | undefined;

  constructor(broker: Broker, logger: FastifyBaseLogger) {
    this.#broker = broker;
    this.#logger = logger;
  }

  /** Resolves when one of `taskIds` is announced, after `maxMs`, or when `signal` aborts. */
  async wait(taskIds: readonly string[], maxMs: number, signal?: AbortSignal): Promise<void> {
    await this.#subscribe();
    if (signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        for (const id of taskIds) {
          const set = this.#waiters.get(id);
          set?.delete(wake);
          if (set?.size === 0) this.#waiters.delete(id);
        }
        resolve();
      };
      const timer = setTimeout(wake, maxMs);
      signal?.addEventListener('abort', wake, { once: true });
      for (const id of taskIds) {
        const set = this.#waiters.get(id);
        if (set === undefined) this.#waiters.set(id, new Set([wake]));
        else set.add(wake);
      }
    });
  }

  /** Wakes the waiters of these tasks (an announcement, or a change made by this process). */
  notify(taskIds: readonly string[]): void {
    for (const id of taskIds) {
      const set = this.#waiters.get(id);
      if (set === undefined) continue;
      for (const wake of [...set]) wake();
    }
  }

  async close(): Promise<void> {
    const unsubscribe = await this.#subscription;
    this.#subscription = undefined;
    await unsubscribe?.();
  }

  #subscribe(): Promise<Unsubscribe | undefined> {
    this.#subscription ??= this.#broker
      .subscribe(taskEventsChannel, (message) => this.notify(settledTaskIds(message)))
      .catch((err: unknown) => {
        // Waiters still poll; try to subscribe again on a later wait.
        this.#logger.warn({ err }, 'cannot subscribe to task events; event streams fall back to polling');
        this.#subscription = undefined;
        return undefined;
      });
    return this.#subscription;
  }
}
