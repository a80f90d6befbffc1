import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Nudge, ThreadNudges } from '../../src/queue/sqlite/thread-nudges.js';

const opened: ThreadNudges[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const nudges of opened.splice(0)) nudges.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function queueFile(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'inferq-nudges-'));
  dirs.push(dir);
  return path.join(dir, 'inferq.db');
}

function open(file: string, received: Nudge[] = []): ThreadNudges {
  const nudges = new ThreadNudges(file, (nudge) => received.push(nudge));
  opened.push(nudges);
  return nudges;
}

describe('ThreadNudges', () => {
  it("reaches only the connections that listen for the nudge's queue or broadcast channel", async () => {
    // Each post wakes every other instance of its BroadcastChannel, so a connection that leases
    // none of a queue's jobs (another model's worker thread) must not be nudged for it.
    const file = queueFile();
    const sender = open(file);
    const received: Nudge[] = [];
    const listener = open(file, received);
    listener.listen({ kind: 'enqueued', queue: 'a' });
    listener.listen({ kind: 'published', channel: 'c' });
    // Posted first: were they delivered at all, they would arrive before the nudges that follow.
    sender.post({ kind: 'enqueued', queue: 'b' });
    sender.post({ kind: 'published', channel: 'a' });
    sender.post({ kind: 'enqueued', queue: 'a' });
    await expect.poll(() => received, { timeout: 5_000 }).toEqual([{ kind: 'enqueued', queue: 'a' }]);
    sender.post({ kind: 'published', channel: 'd' });
    sender.post({ kind: 'published', channel: 'c' });
    await expect
      .poll(() => received, { timeout: 5_000 })
      .toEqual([
        { kind: 'enqueued', queue: 'a' },
        { kind: 'published', channel: 'c' },
      ]);
  });

  it('reaches connections to the same file only, and none once closed', async () => {
    const file = queueFile();
    const sender = open(file);
    const other: Nudge[] = [];
    open(queueFile(), other).listen({ kind: 'enqueued', queue: 'a' });
    const received: Nudge[] = [];
    const listener = open(file, received);
    listener.listen({ kind: 'enqueued', queue: 'a' });
    sender.post({ kind: 'enqueued', queue: 'a' });
    await expect.poll(() => received, { timeout: 5_000 }).toEqual([{ kind: 'enqueued', queue: 'a' }]);
    expect(other).toEqual([]);
    listener.close();
    sender.post({ kind: 'enqueued', queue: 'a' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toHaveLength(1);
  });
});
