import type { BroadcastMessage } from '../../core/job.js';
import type { SqliteDatabase } from '../../sqlite/open-sqlite.js';
import type { Unsubscribe } from '../broker.js';

export interface SqliteBroadcastOptions {
  /** How often subscribers read the log for messages from other processes. */
  pollIntervalMs: number;
  /** Messages older than this are deleted (on publish). */
  retentionMs: number;
}

interface Subscriber {
  channel: string;
  handler: (message: BroadcastMessage) => void;
  /** The highest sequence number this subscriber has been shown (or chose to skip). */
  afterSeq: number;
}

/** Rows read per poll; a backlog larger than this drains over several polls, still in order. */
const pollBatch = 1_000;

/**
 * Publish/subscribe over one SQLite file, for the processes that share it.
 *
 * Publishing appends to the `broadcasts` log; every subscriber reads the log by sequence number.
 * That gives each subscriber every message once and in order, across processes, with no server:
 * SQLite serialises writers, so sequence numbers become visible in commit order and a reader can
 * never see seq 11 and later discover a seq 10. The cost is latency: another process sees a
 * message on its next poll (`pollIntervalMs`). Subscribers in the publishing process are served
 * at once, through the same log read, so local and remote subscribers see one order.
 *
 * A subscriber starts after the newest message that exists when it subscribes. Old messages are
 * pruned after `retentionMs`; a subscriber that falls further behind than that (a process
 * suspended for an hour) misses them, which suits control messages that are only meaningful
 * while fresh.
 */
export class SqliteBroadcast {
  private readonly subscribers = new Set<Subscriber>();
  private readonly insert;
  private readonly selectSince;
  private readonly selectLastSeq;
  private readonly prune;
  private timer: NodeJS.Timeout | undefined;
  private pollScheduled = false;
  private lastPruneAt = 0;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: SqliteBroadcastOptions,
  ) {
    this.insert = db.prepare<[string, string, number]>(
      'INSERT INTO broadcasts (channel, message, published_at) VALUES (?, ?, ?)',
    );
    this.selectSince = db.prepare<[number, number], { seq: number; channel: string; message: string }>(
      'SELECT seq, channel, message FROM broadcasts WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    // sqlite_sequence keeps the highest seq ever issued even when every row has been pruned.
    this.selectLastSeq = db.prepare<[], { seq: number }>(
      "SELECT seq FROM sqlite_sequence WHERE name = 'broadcasts'",
    );
    this.prune = db.prepare<[number]>('DELETE FROM broadcasts WHERE published_at < ?');
  }

  publish(channel: string, message: BroadcastMessage): void {
    const now = Date.now();
    this.insert.run(channel, JSON.stringify(message), now);
    // Pruning on publish keeps the log bounded without a timer in every process; throttled
    // because publishers of bursts (cancel 1,000 tasks) need not delete on every message.
    if (now - this.lastPruneAt >= Math.min(this.options.retentionMs, 60_000)) {
      this.lastPruneAt = now;
      this.prune.run(now - this.options.retentionMs);
    }
    if (this.subscribers.size > 0) this.pollSoon();
  }

  subscribe(channel: string, handler: (message: BroadcastMessage) => void): Unsubscribe {
    const subscriber: Subscriber = { channel, handler, afterSeq: this.selectLastSeq.get()?.seq ?? 0 };
    this.subscribers.add(subscriber);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.poll(), this.options.pollIntervalMs);
      // Subscribing alone does not keep a process alive; its owner decides its lifetime.
      this.timer.unref();
    }
    return async () => {
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) this.stopTimer();
    };
  }

  close(): void {
    this.subscribers.clear();
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Reads the log soon (after the current turn): on a local publish, or when another thread of
   * this process says it published. Coalesces a burst into one read.
   */
  pollSoon(): void {
    if (this.pollScheduled) return;
    this.pollScheduled = true;
    queueMicrotask(() => {
      this.pollScheduled = false;
      this.poll();
    });
  }

  private poll(): void {
    if (this.subscribers.size === 0 || !this.db.open) return;
    let from = Number.POSITIVE_INFINITY;
    for (const s of this.subscribers) from = Math.min(from, s.afterSeq);
    for (;;) {
      const rows = this.selectSince.all(from, pollBatch);
      for (const row of rows) {
        let message: BroadcastMessage | undefined;
        for (const s of this.subscribers) {
          if (row.seq <= s.afterSeq) continue;
          s.afterSeq = row.seq;
          if (s.channel !== row.channel) continue;
          message ??= JSON.parse(row.message) as BroadcastMessage;
          deliver(s, message);
        }
      }
      if (rows.length < pollBatch) return;
      from = rows[rows.length - 1]!.seq;
    }
  }
}

function deliver(subscriber: Subscriber, message: BroadcastMessage): void {
  try {
    // Each subscriber gets its own copy: one handler mutating the message must not affect another.
    subscriber.handler(structuredClone(message));
  } catch (err) {
    // A throwing handler must not stop delivery to the others or kill the poller. The warning
    // reaches the process's 'warning' listeners (and stderr by default) without console.*.
    process.emitWarning(`inferq broadcast subscriber on '${subscriber.channel}' threw: ${String(err)}`);
  }
}
