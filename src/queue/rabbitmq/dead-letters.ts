import type { Channel, GetMessage } from 'amqplib';
import type { DeadJob } from '../../core/job.js';
import type { AmqpChannels } from './amqp-connection.js';
import type { JobPublisher } from './job-publisher.js';
import { outgoing, tryDecode } from './message.js';
import type { QueueNames } from './topology.js';

/** requeueDead looks at no more than this many dead messages. */
const maxDeadScan = 10_000;

/**
 * Gets up to `limit` dead messages and returns them to the dead queue at once (nack with
 * requeue): AMQP cannot browse a queue, so listing briefly holds what it lists.
 */
export async function listDeadJobs(
  channels: AmqpChannels,
  names: QueueNames,
  queue: string,
  limit: number,
): Promise<DeadJob[]> {
  const got = await getAll(channels.work, names.dead, limit);
  const dead: DeadJob[] = [];
  for (const raw of got) {
    const message = tryDecode(raw);
    if (message !== undefined) {
      const { id, payload, error, failedAt } = message;
      dead.push({ id, queue, payload, attempts: message.attempts - 1, error, failedAt });
    }
    channels.work.nack(raw, false, true);
  }
  return dead;
}

/**
 * Moves dead job `id` back to its work queue with no attempts spent (published, then acked);
 * every other dead message it got goes back to the dead queue. False when it is not there.
 */
export async function requeueDeadJob(
  channels: AmqpChannels,
  names: QueueNames,
  id: string,
  publisher: JobPublisher,
): Promise<boolean> {
  const got = await getAll(channels.work, names.dead, maxDeadScan);
  let found = false;
  for (const raw of got) {
    const message = found ? undefined : tryDecode(raw);
    if (message?.id === id) {
      found = true;
      await publisher.publish(channels.publish, names, 0, { ...outgoing(message), attempts: 0 });
      channels.work.ack(raw);
    } else {
      channels.work.nack(raw, false, true);
    }
  }
  return found;
}

async function getAll(channel: Channel, queue: string, limit: number): Promise<GetMessage[]> {
  const got: GetMessage[] = [];
  while (got.length < limit) {
    const raw = await channel.get(queue, { noAck: false });
    if (raw === false) break;
    got.push(raw);
  }
  return got;
}
