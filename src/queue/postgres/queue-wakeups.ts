/**
 * Long-poll wake-ups for this handle's leasers, per queue: a NOTIFY from any host's enqueue (or
 * this handle's own) wakes the queue's waiters at once; each waiter also wakes after its poll
 * interval (delayed jobs coming due, a lost notification while the listener reconnects).
 *
 * A wake-up that lands between a leaser's empty claim and its wait must not be lost: the leaser
 * reads the queue's generation before claiming and waits only if no wake-up came since.
 */
export class QueueWakeups {
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #generations = new Map<string, number>();

  /** The number of wake-ups of `queue` so far (pass it to `wait`). */
  generation(queue: string): number {
    return this.#generations.get(queue) ?? 0;
  }

  /**
   * Resolves on a wake-up of `queue` after generation `seen`, on `wakeAll`, or after `ms`,
   * whichever comes first; at once when a wake-up came since `seen`.
   */
  wait(queue: string, seen: number, ms: number): Promise<void> {
    if (this.generation(queue) !== seen) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.#waiters.get(queue);
      if (set === undefined) {
        set = new Set();
        this.#waiters.set(queue, set);
      }
      const waiters = set;
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiters.get(queue) === waiters) this.#waiters.delete(queue);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      waiters.add(done);
    });
  }

  /**
   * Wakes every waiter of the queue. They race to claim; the losers find nothing and wait again,
   * a herd bounded by this handle's own leasers.
   */
  wake(queue: string): void {
    // Only queues someone leases from are counted: a producer's handle keeps no map of them all.
    if (this.#generations.has(queue) || this.#waiters.has(queue)) {
      this.#generations.set(queue, this.generation(queue) + 1);
    }
    const set = this.#waiters.get(queue);
    if (set === undefined) return;
    for (const done of [...set]) done();
  }

  /** Marks `queue` as leased from, so that its wake-ups are counted. */
  watch(queue: string): void {
    if (!this.#generations.has(queue)) this.#generations.set(queue, 0);
  }

  wakeAll(): void {
    for (const queue of [...this.#generations.keys()])
      this.#generations.set(queue, this.generation(queue) + 1);
    for (const queue of [...this.#waiters.keys()]) this.wake(queue);
  }
}
