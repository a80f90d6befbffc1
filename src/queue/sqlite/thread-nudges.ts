import path from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';

/** What a thread tells the other threads of its process about one queue file. */
export type Nudge = { kind: 'enqueued'; queue: string } | { kind: 'published'; channel: string };

/**
 * Wake-ups between the threads of one process that share a queue file (`inferq serve` runs its
 * API on the main thread and its workers in worker threads, each with its own connection). After
 * a commit, the writer posts a nudge on a `BroadcastChannel` named after the file and the nudge's
 * topic (the queue enqueued to, the broadcast channel published on); every other connection to
 * the file in this process (any thread) that listens for that topic gets it and reads the file at
 * once instead of on its next poll. Other processes still see the commit on their next poll:
 * SQLite has no cross-process notification.
 *
 * One `BroadcastChannel` per topic, not one per file: a post wakes every other instance of its
 * channel, and with one per file each enqueue woke every thread of the process (nine in
 * bench/http's `inferq serve`), though only the threads leasing that queue had anything to do:
 * 12-13 µs of CPU (all threads) per nudge with eight other threads, 3 µs with one listening.
 *
 * A nudge only says "look now"; the file stays the truth, so a lost or extra nudge costs a poll
 * interval or one empty read, never a job. A connection listens for a topic from its first
 * lease of the queue or subscription to the channel, before it first reads the file for it, so
 * a commit it has not read is always nudged.
 */
export class ThreadNudges {
  private readonly prefix: string | undefined;
  private readonly channels = new Map<string, BroadcastChannel>();
  private readonly listening = new Set<string>();
  private closed = false;

  constructor(
    file: string,
    private readonly onNudge: (nudge: Nudge) => void,
  ) {
    // A private in-memory database has no other connections to nudge.
    if (file === ':memory:' || file === '') return;
    this.prefix = `inferq.sqlite-queue:${path.resolve(file)}`;
  }

  /** From now on, nudges of this topic posted by other connections reach `onNudge`. */
  listen(nudge: Nudge): void {
    const topic = topicOf(nudge);
    if (this.listening.has(topic)) return;
    const channel = this.channel(topic);
    if (channel === undefined) return;
    this.listening.add(topic);
    channel.onmessage = (event) => this.onNudge((event as { data: Nudge }).data);
    // Setting onmessage refs the channel; listening alone does not keep a process (or a worker
    // thread) alive.
    channel.unref();
  }

  post(nudge: Nudge): void {
    this.channel(topicOf(nudge))?.postMessage(nudge);
  }

  close(): void {
    this.closed = true;
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
    this.listening.clear();
  }

  private channel(topic: string): BroadcastChannel | undefined {
    if (this.prefix === undefined || this.closed) return undefined;
    let channel = this.channels.get(topic);
    if (channel === undefined) {
      channel = new BroadcastChannel(`${this.prefix}:${topic}`);
      channel.unref();
      this.channels.set(topic, channel);
    }
    return channel;
  }
}

/** A queue and a broadcast channel of the same name are different topics. */
function topicOf(nudge: Nudge): string {
  return nudge.kind === 'enqueued' ? `queue:${nudge.queue}` : `broadcast:${nudge.channel}`;
}
