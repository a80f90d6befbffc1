/**
 * Long-poll wake-ups for leasers in this process, per queue. An in-process enqueue wakes the
 * queue's waiters at once; waiters also wake on their own after a poll interval to see work that
 * another process committed to the file (SQLite has no cross-process notification).
 */
export class LeaseWaiters {
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Resolves on `wake(queue)`, `wakeAll()` or after `ms`, whichever comes first. */
  wait(queue: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(queue);
      if (set === undefined) {
        set = new Set();
        this.waiters.set(queue, set);
      }
      const waiters = set;
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.waiters.get(queue) === waiters) this.waiters.delete(queue);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      waiters.add(done);
    });
  }

  /**
   * Wakes every waiter of the queue. They race to claim; the losers find nothing and wait again,
   * a herd bounded by this process's own leasers.
   */
  wake(queue: string): void {
    const set = this.waiters.get(queue);
    if (set === undefined) return;
    for (const done of [...set]) done();
  }

  wakeAll(): void {
    for (const queue of [...this.waiters.keys()]) this.wake(queue);
  }
}
