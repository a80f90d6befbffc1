import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';

/** Blocked waits at once per broker handle; more waiters sleep instead (a worker runs two). */
const maxBlockingConnections = 4;
/** How much longer than its timeout a BZPOPMIN may take before its connection is dropped. */
const watchdogSlackMs = 1_000;

/**
 * Wakes an idle `lease` as soon as work arrives. BullMQ adds a member to a queue's marker key
 * (a sorted set) whenever a job becomes ready, and its own workers block on it with BZPOPMIN;
 * this does the same on dedicated connections (a blocked connection serves nobody else), one per
 * concurrent waiter, up to a few, reused.
 *
 * A marker whose score is a future time stands for a delayed job: the wait sleeps until then
 * (within its bound). As in BullMQ, a blocked command is raced against a watchdog, because
 * ioredis re-sends an interrupted blocking command after a reconnect instead of failing it; a
 * connection that overstays is dropped.
 */
export class MarkerWaiter {
  readonly #redis: Redis;
  readonly #idle: Redis[] = [];
  readonly #all = new Set<Redis>();
  #closed = false;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  /** Resolves when `markerKey` gets a member, after `ms`, or on close. */
  async wait(markerKey: string, ms: number): Promise<void> {
    const connection = this.#take();
    if (connection === undefined) {
      await sleep(ms);
      return;
    }
    let healthy = true;
    try {
      const popped = connection.bzpopmin(markerKey, Math.max(0.001, ms / 1000));
      popped.catch(() => null);
      const watchdog = new AbortController();
      const result = await Promise.race([
        popped,
        sleep(ms + watchdogSlackMs, 'watchdog' as const, { signal: watchdog.signal }).catch(
          () => 'aborted' as const,
        ),
      ]);
      watchdog.abort();
      if (result === 'watchdog') {
        healthy = false;
        return;
      }
      const score = Array.isArray(result) ? Number(result[2]) : 0;
      const until = Math.min(score, Date.now() + ms) - Date.now();
      if (until > 0) await sleep(until);
    } catch {
      // Connection lost or closed: the caller polls again after its usual pause.
      healthy = false;
      if (!this.#closed) await sleep(Math.min(ms, 100));
    } finally {
      this.#give(connection, healthy);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const connection of this.#all) connection.disconnect();
    this.#all.clear();
    this.#idle.length = 0;
  }

  #take(): Redis | undefined {
    if (this.#closed) return undefined;
    const idle = this.#idle.pop();
    if (idle !== undefined) return idle;
    if (this.#all.size >= maxBlockingConnections) return undefined;
    const connection = this.#redis.duplicate({ maxRetriesPerRequest: null, lazyConnect: false });
    connection.on('error', () => {});
    this.#all.add(connection);
    return connection;
  }

  #give(connection: Redis, healthy: boolean): void {
    if (healthy && !this.#closed) {
      this.#idle.push(connection);
      return;
    }
    this.#all.delete(connection);
    connection.disconnect();
  }
}
