import { describe, expect, it } from 'vitest';
import { QueueWakeups } from '../../src/queue/postgres/queue-wakeups.js';

describe('QueueWakeups (the PostgreSQL broker long poll)', () => {
  it('a wake-up between a leaser reading the generation and waiting is not lost', async () => {
    const wakeups = new QueueWakeups();
    wakeups.watch('q');
    const seen = wakeups.generation('q');
    // The claim found nothing; meanwhile a NOTIFY arrived.
    wakeups.wake('q');
    // A wait far beyond the test timeout: only the missed wake-up can end it in time.
    await wakeups.wait('q', seen, 600_000);
  });

  it('wakes the waiters of one queue only, and every waiter on wakeAll', async () => {
    const wakeups = new QueueWakeups();
    const woken: string[] = [];
    for (const queue of ['a', 'b']) wakeups.watch(queue);
    const a = wakeups.wait('a', wakeups.generation('a'), 60_000).then(() => woken.push('a'));
    const b = wakeups.wait('b', wakeups.generation('b'), 60_000).then(() => woken.push('b'));
    wakeups.wake('a');
    await a;
    await Promise.resolve();
    expect(woken).toEqual(['a']);
    wakeups.wakeAll();
    await b;
    expect(woken).toEqual(['a', 'b']);
  });

  it('a wait ends after its interval when nothing wakes it', async () => {
    const wakeups = new QueueWakeups();
    wakeups.watch('q');
    await wakeups.wait('q', wakeups.generation('q'), 10);
  });
});
