/**
 * Delay buckets (ms). A delayed job goes to the smallest bucket at least as long as its delay:
 * one TTL queue per bucket, because per-message TTL only expires at the head of a queue (a
 * 10-minute message would hold back a 100 ms one behind it); within one bucket every message
 * has the same TTL, so the head is always the first due. Delays are thus rounded up (at most
 * 2.5×); delays past the last bucket hop through it again until `x-inferq-not-before`.
 */
export const delayBuckets: readonly number[] = Object.freeze([
  100, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000,
]);

/** The bucket for a delay: the smallest one that is long enough, else the longest. */
export function delayBucket(delayMs: number): number {
  return delayBuckets.find((bucket) => bucket >= delayMs) ?? delayBuckets[delayBuckets.length - 1]!;
}

/** Every RabbitMQ name one inferq queue uses, under the broker's prefix. */
export interface QueueNames {
  work: string;
  dead: string;
  delay(bucketMs: number): string;
}

export function queueNames(prefix: string, queue: string): QueueNames {
  const work = `${prefix}.${queue}`;
  return { work, dead: `${work}.dead`, delay: (bucketMs) => `${work}.delay.${bucketMs}` };
}

/** The fanout exchange of one broadcast channel. */
export function broadcastExchange(prefix: string, channel: string): string {
  return `${prefix}.broadcast.${channel}`;
}

/** Work and dead-letter queues are quorum queues: replicated, durable, with `x-delivery-count`. */
export const quorumArguments = Object.freeze({ 'x-queue-type': 'quorum' });

/**
 * A delay queue: messages wait out the TTL, then RabbitMQ dead-letters them to the work queue
 * through the default exchange. Classic (durable) rather than quorum: a bucket only holds
 * messages in transit, and 14 buckets per inferq queue as Raft groups would cost more than they
 * protect on a single node.
 */
export function delayArguments(work: string, bucketMs: number): Record<string, unknown> {
  return {
    'x-queue-type': 'classic',
    'x-message-ttl': bucketMs,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': work,
  };
}
