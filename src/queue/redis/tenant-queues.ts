import { isValidQueueName } from '../../core/job.js';

/**
 * How RedisBroker lays an inferq queue out in BullMQ for fair shares: one BullMQ queue per
 * (inferq queue, tenant), its "tenant queue", leased in turn by fair-lease-plan.ts.
 *
 * - The tenant '' (jobs that name none, and every job from before fair shares) keeps the plain
 *   BullMQ queue of the inferq queue, so an upgrade finds its waiting jobs where they were.
 * - Another tenant's queue is the plain name, `%7C` (an encoded '|', which no encoded queue name
 *   holds) and the tenant URI-encoded (BullMQ refuses ':' in a name; Redis keys take the rest).
 *   @bull-board lists each tenant queue on its own.
 * - Per inferq queue, a hash maps each tenant that ever enqueued to its BullMQ queue (the plan
 *   script reads it to find the tenants with backlog; the reaper, depth and dead-letter views
 *   walk it), and a hash keeps the fair-share tags; one hash per broker keeps tenants' weights.
 */
const tenantSeparator = '%7C';

/** BullMQ refuses ':' in queue names (its key separator); inferq allows it. '%' never occurs in ours. */
export function bullName(queue: string): string {
  return queue.replaceAll(':', '%3A');
}

/** The BullMQ queue that holds `tenant`'s jobs of `queue`. */
export function tenantQueueName(queue: string, tenant: string): string {
  return tenant === ''
    ? bullName(queue)
    : `${bullName(queue)}${tenantSeparator}${encodeURIComponent(tenant)}`;
}

/** Redis keys of the fair-share bookkeeping (under the broker's BullMQ prefix). */
export function fairShareKeys(
  prefix: string,
  queue: string,
): { tenants: string; tags: string; weights: string } {
  return {
    tenants: `${prefix}:inferq:tenants:${bullName(queue)}`,
    tags: `${prefix}:inferq:fair:${bullName(queue)}`,
    weights: `${prefix}:inferq:weights`,
  };
}

/**
 * Lease tokens carry their queue and tenant (`<uuid>|<queue>` for the tenant '',
 * `<uuid>|<queue>|<encoded tenant>` otherwise): ack, nack and extend get only `{ id, token }`,
 * and must find the job's BullMQ queue. Neither a queue name nor an encoded tenant holds '|'.
 */
const tokenSeparator = '|';

export function leaseToken(uuid: string, queue: string, tenant: string): string {
  return tenant === ''
    ? `${uuid}${tokenSeparator}${queue}`
    : `${uuid}${tokenSeparator}${queue}${tokenSeparator}${encodeURIComponent(tenant)}`;
}

/** The queue and tenant a token names, or undefined when it is not one of ours. */
export function tokenTarget(token: string): { queue: string; tenant: string } | undefined {
  const parts = token.split(tokenSeparator);
  if (parts.length < 2 || parts.length > 3) return undefined;
  const queue = parts[1]!;
  if (!isValidQueueName(queue)) return undefined;
  try {
    return { queue, tenant: parts.length === 3 ? decodeURIComponent(parts[2]!) : '' };
  } catch {
    return undefined;
  }
}
