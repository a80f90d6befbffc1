import { setTimeout as sleep } from 'node:timers/promises';
import type { Message } from 'amqplib';
import { newLeaseToken } from '../../core/ids.js';
import type { LeasedJob } from '../../core/job.js';
import type { LeaseRequest } from '../broker.js';
import { type ConsumerPool, maxLeaseBatch } from './consumer-pool.js';
import type { HeldDelivery, JobPublisher } from './job-publisher.js';
import type { LeaseTable } from './lease-table.js';
import { type DecodedMessage, outgoing, tryDecode } from './message.js';
import type { QueueConsumer } from './queue-consumer.js';

/** A job whose not-before time is this close is due: not worth another trip through a bucket. */
const dueToleranceMs = 20;

export interface ConsumerLeasingOptions {
  consumers: ConsumerPool;
  leases: LeaseTable;
  publisher: JobPublisher;
  /** The first pause of a long poll whose consumer's window is full of leases (grows to 200 ms). */
  pollMs: number;
}

/**
 * Leases jobs from the messages a queue's consumer ({@link ConsumerPool}) has buffered. A long
 * poll that finds the buffer empty waits for a delivery. `basic.get` on the consumer's channel is
 * kept for three cases: a lease with `waitMs: 0` that finds the buffer empty, a consumer just
 * (re)started, and a window full of leases (no delivery can come; polled 25 → 200 ms). RabbitMQ
 * answers a `get` after every delivery it sent the channel before, so besides fetching what the
 * window could not take, it shows that the buffer holds all that was ready: `waitMs: 0` still
 * returns what is ready, oldest first (delivery-tag order).
 *
 * Buffered messages are not leased: no token, no timer, no attempt. They are unacked, though,
 * and other workers cannot see them, so a consumer that no lease call used for `consumerIdleMs`
 * is cancelled and its buffer given back, as every buffer is on `close`. Given back means
 * republished with the attempts it had, then acked: a nack would count a delivery (a quorum queue
 * counts every return, consumer cancels and channel closes included) and cost the job a retry.
 * Such a message therefore goes to the back of the queue. A lost connection gives nothing back:
 * RabbitMQ requeues its buffered messages itself and counts one delivery each.
 */
export class ConsumerLeasing {
  constructor(private readonly options: ConsumerLeasingOptions) {}

  async lease(queue: string, request: LeaseRequest): Promise<LeasedJob[]> {
    const { consumers, leases } = this.options;
    const max = Math.min(maxLeaseBatch, Math.max(1, Math.floor(request.max)));
    const waitMs = Math.max(0, request.waitMs ?? 0);
    const deadline = Date.now() + waitMs;
    let pause = this.options.pollMs;
    for (let first = true; ; first = false) {
      const { consumer, started } = await consumers.get(queue, max);
      consumer.begin();
      try {
        // Full of leases: nothing more will be delivered, only `get` can find work. Otherwise a
        // long poll waits for deliveries, and `get` only answers a poll that cannot wait.
        const full = leases.count(queue) >= consumer.prefetch;
        const jobs = await this.#take(queue, consumer, max, request.leaseMs, {
          get: full || started || (first && waitMs === 0),
          fill: started,
        });
        if (jobs.length > 0 || Date.now() >= deadline) return jobs;
        const left = Math.max(1, deadline - Date.now());
        if (full) {
          await sleep(Math.min(pause, left));
          pause = Math.min(200, pause * 2);
        } else {
          await consumer.delivery(left);
        }
      } finally {
        consumer.end();
      }
    }
  }

  /** Cancels the queue's consumer and gives its buffered messages back. */
  async retire(queue: string, consumer: QueueConsumer): Promise<void> {
    const unleased = await consumer.cancel();
    await Promise.all(unleased.map((raw) => this.#giveBack(queue, consumer, raw)));
  }

  /**
   * Leases up to `max` buffered messages. With `get`, when that finds none (or, with `fill`, any
   * fewer than `max`: the consumer has just started and may still be receiving), `basic.get`s,
   * one at a time, fetch more until RabbitMQ has nothing ready (see the class comment).
   */
  async #take(
    queue: string,
    consumer: QueueConsumer,
    max: number,
    leaseMs: number,
    mode: { get: boolean; fill: boolean },
  ): Promise<LeasedJob[]> {
    const jobs: LeasedJob[] = [];
    // Leasing a message is synchronous; only the odd one (malformed, not due) needs a publish.
    const detours: Promise<void>[] = [];
    const drain = () => {
      for (const raw of consumer.take(max - jobs.length)) {
        const job = this.#leaseOne(queue, consumer, raw, leaseMs, detours);
        if (job !== undefined) jobs.push(job);
      }
    };
    drain();
    if (mode.get && (jobs.length === 0 || mode.fill)) {
      while (jobs.length < max) {
        const got = await consumer.get();
        drain();
        if (!got) break;
      }
    }
    await Promise.all(detours);
    return jobs;
  }

  /**
   * A delivered message becomes a lease; a malformed one goes to the dead queue and one not due
   * yet through a delay queue again, their publishes added to `detours`.
   */
  #leaseOne(
    queue: string,
    consumer: QueueConsumer,
    raw: Message,
    leaseMs: number,
    detours: Promise<void>[],
  ): LeasedJob | undefined {
    const { publisher, leases } = this.options;
    const { channel, generation } = consumer;
    // A detour that fails must not strand its message unacked: back to the queue (a delivery).
    const requeue = () => {
      try {
        channel.nack(raw, false, true);
      } catch {
        // The channel is gone: RabbitMQ requeues the message itself.
      }
    };
    const message = tryDecode(raw);
    if (message === undefined) {
      detours.push(publisher.deadLetterRaw(queue, channel, raw).catch(requeue));
      return undefined;
    }
    const now = Date.now();
    if (message.notBefore - now > dueToleranceMs) {
      // A delay longer than the longest bucket: another trip through it.
      detours.push(this.#putBack({ queue, raw, channel, generation }, message).catch(requeue));
      return undefined;
    }
    const token = newLeaseToken();
    const expiresAt = now + leaseMs;
    leases.add({ token, queue, message, raw, channel, generation, expiresAt });
    const { id, payload, attempts, maxAttempts, priority, enqueuedAt } = message;
    return {
      id,
      queue,
      payload,
      priority,
      attempts,
      maxAttempts,
      enqueuedAt,
      token,
      leaseExpiresAt: expiresAt,
    };
  }

  /**
   * Returns a buffered message to its queue without counting an attempt: republished with the
   * attempts it had and its not-before time, then acked (a nack would count a delivery).
   */
  async #giveBack(queue: string, consumer: QueueConsumer, raw: Message): Promise<void> {
    const { channel, generation } = consumer;
    const message = tryDecode(raw);
    if (message === undefined) {
      // Not inferq's: its next lease dead-letters it, attempts do not matter.
      channel.nack(raw, false, true);
      return;
    }
    await this.#putBack({ queue, raw, channel, generation }, message);
  }

  /**
   * Republishes a delivered message to wait out the rest of its not-before time, with the
   * attempts it had before this delivery (the caller acks or has acked nothing yet).
   */
  #putBack(held: HeldDelivery, message: DecodedMessage): Promise<void> {
    return this.options.publisher.republish(held, Math.max(0, message.notBefore - Date.now()), {
      ...outgoing(message),
      attempts: message.attempts - 1,
    });
  }
}
