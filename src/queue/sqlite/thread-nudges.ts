import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';

/** What a thread tells the other threads of its process about one queue file. */
export type Nudge = { kind: 'enqueued'; queue: string } | { kind: 'published' };

/**
 * Wake-ups between the threads of one process that share a queue file (`inferq serve` runs its
 * API on the main thread and its workers in worker threads, each with its own connection). After
 * a commit, the writer posts a nudge on a `BroadcastChannel` named after the file; every other
 * connection to the file in this process (any thread) gets it and reads the file at once instead
 * of on its next poll. Other processes still see the commit on their next poll: SQLite has no
 * cross-process notification.
 *
 * A nudge only says "look now"; the file stays the truth, so a lost or extra nudge costs a poll
 * interval or one empty read, never a job.
 */
export class ThreadNudges {
  private readonly channel: BroadcastChannel | undefined;

  constructor(file: string, onNudge: (nudge: Nudge) => void) {
    // A private in-memory database has no other connections to nudge.
    if (file === ':memory:' || file === '') return;
    this.channel = new BroadcastChannel(`inferq.sqlite-queue:${path.resolve(file)}`);
    this.channel.onmessage = (event) => onNudge((event as { data: Nudge }).data);
    // Listening alone does not keep a process (or a worker thread) alive.
    this.channel.unref();
  }

  post(nudge: Nudge): void {
    this.channel?.postMessage(nudge);
  }

  close(): void {
    this.channel?.close();
  }
}
