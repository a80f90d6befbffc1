import { describe, expect, it } from 'vitest';
import { QueuedCounts } from '../../src/api/submit/queued-counts.js';

describe('QueuedCounts', () => {
  it('counts once a second, adds what it lets through, and recounts before refusing', async () => {
    let now = 0;
    let stored = 5; // queued tasks the "store" holds
    let counts = 0;
    const count = async () => {
      counts += 1;
      return stored;
    };
    const q = new QueuedCounts(() => now);
    expect(await q.reserve('acme', 2, 10, count)).toEqual({ ok: true, queued: 5 });
    stored += 2;
    expect(await q.reserve('acme', 2, 10, count)).toEqual({ ok: true, queued: 7 });
    stored += 2;
    expect(counts).toBe(1);
    // 9 + 2 > 10 by the estimate: counted again before refusing. Meanwhile 4 tasks finished.
    stored -= 4;
    expect(await q.reserve('acme', 2, 10, count)).toEqual({ ok: true, queued: 5 });
    expect(counts).toBe(2);
    stored += 2;
    expect(await q.reserve('acme', 4, 10, count)).toEqual({ ok: false, queued: 7 });
    expect(counts).toBe(3);
    // Stale after a second; other tenants have their own counts.
    now += 1_000;
    await q.reserve('acme', 1, 10, count);
    expect(counts).toBe(4);
    await q.reserve('globex', 1, 10, async () => 0);
    expect(counts).toBe(4);
  });
});
