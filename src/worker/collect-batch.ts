import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Takes up to `max` items now, or waits up to `waitMs` for a first one: a broker's `lease`
 * (durable jobs) or the fast path's in-memory queue.
 */
export type TakeItems<T> = (max: number, waitMs: number) => Promise<T[]>;

export interface CollectBatchOptions {
  max: number;
  /** How long to wait for more jobs after the first one arrived (the batching window). */
  maxDelayMs: number;
  /** Long-poll wait for the first job. */
  idleWaitMs: number;
  /**
   * Whether waiting for batch-mates can pay off now (default: always). The fast path opens the
   * window only while another batch of the model runs: a lone request on an idle model goes at
   * once, and under load, where a batch is always running, requests still batch.
   */
  windowPaysOff?: () => boolean;
  signal?: AbortSignal;
}

/**
 * Dynamic batching: wait for a first job, then keep leasing until the batch is full or
 * `maxDelayMs` has passed since the first job arrived. The window trades a few milliseconds
 * of latency for larger batches when the queue is busy; with an idle queue a lone job waits at
 * most `maxDelayMs`. Every job in the batch is leased the moment it joins, so none can be
 * taken by another worker while the window is open. The same rule batches durable jobs (a
 * broker's lease) and fast-path requests (an in-memory queue, fast-lanes.ts).
 *
 * Inside the window the queue is looked at every quarter window (at least 1 ms), not on every
 * enqueue: under load jobs arrive one request at a time, and a lease per arrival would cost a
 * broker round trip (a write transaction, for SQLite) per job instead of a few per batch.
 */
export async function collectBatch<T>(take: TakeItems<T>, options: CollectBatchOptions): Promise<T[]> {
  const batch = await take(options.max, options.idleWaitMs);
  if (batch.length === 0 || batch.length >= options.max || options.maxDelayMs <= 0) return batch;
  if (options.windowPaysOff?.() === false) return batch;
  const deadline = Date.now() + options.maxDelayMs;
  const stepMs = Math.max(1, options.maxDelayMs / 4);
  while (batch.length < options.max && !options.signal?.aborted) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await sleep(Math.min(remaining, stepMs), undefined, { signal: options.signal }).catch(() => {});
    const more = await take(options.max - batch.length, 0);
    batch.push(...more);
  }
  return batch;
}

/**
 * Splits `n` items into runs of the model's preferred batch sizes (largest first), e.g. 13
 * with [8, 4] → [8, 4, 1]. Some accelerators run a few fixed shapes much faster.
 */
export function splitByPreferredSizes(n: number, preferred: readonly number[] | undefined): number[] {
  const sizes = [...(preferred ?? [])].filter((s) => s > 0).sort((a, b) => b - a);
  if (sizes.length === 0) return n > 0 ? [n] : [];
  const out: number[] = [];
  let left = n;
  for (const size of sizes) {
    while (left >= size) {
      out.push(size);
      left -= size;
    }
  }
  if (left > 0) out.push(left);
  return out;
}

/** `items` cut, in order, into runs of the model's preferred batch sizes ({@link splitByPreferredSizes}). */
export function chunkByPreferredSizes<T>(
  items: readonly T[],
  preferred: readonly number[] | undefined,
): T[][] {
  const chunks: T[][] = [];
  let offset = 0;
  for (const size of splitByPreferredSizes(items.length, preferred)) {
    chunks.push(items.slice(offset, offset + size));
    offset += size;
  }
  return chunks;
}
