import type { Message, Options } from 'amqplib';

/** Headers inferq keeps on every AMQP message (RabbitMQ adds `x-delivery-count` on quorum queues). */
export const header = {
  /** Deliveries already spent before this message was (re)published. */
  attempts: 'x-inferq-attempts',
  maxAttempts: 'x-inferq-max-attempts',
  priority: 'x-inferq-priority',
  enqueuedAt: 'x-inferq-enqueued-at',
  /** Set when a delay is longer than the longest bucket: not deliverable before this time. */
  notBefore: 'x-inferq-not-before',
  error: 'x-inferq-error',
  failedAt: 'x-inferq-failed-at',
} as const;

/** What inferq knows about a message it got from RabbitMQ. */
export interface DecodedMessage {
  id: string;
  payload: unknown;
  /** Deliveries including this one. */
  attempts: number;
  maxAttempts: number;
  priority: number;
  enqueuedAt: number;
  notBefore: number;
  error: string | null;
  failedAt: number;
}

/** The fields a message is published with. */
export interface OutgoingMessage {
  id: string;
  payload: unknown;
  /** Deliveries already spent. */
  attempts: number;
  maxAttempts: number;
  priority: number;
  enqueuedAt: number;
  notBefore?: number;
  error?: string;
  failedAt?: number;
}

export function encode(message: OutgoingMessage): { body: Buffer; options: Options.Publish } {
  const headers: Record<string, unknown> = {
    [header.attempts]: message.attempts,
    [header.maxAttempts]: message.maxAttempts,
    [header.priority]: message.priority,
    [header.enqueuedAt]: message.enqueuedAt,
  };
  if (message.notBefore !== undefined) headers[header.notBefore] = message.notBefore;
  if (message.error !== undefined) headers[header.error] = message.error;
  if (message.failedAt !== undefined) headers[header.failedAt] = message.failedAt;
  return {
    // `null` stands for `undefined`, which JSON cannot carry.
    body: Buffer.from(JSON.stringify(message.payload ?? null)),
    options: { persistent: true, messageId: message.id, contentType: 'application/json', headers },
  };
}

const num = (value: unknown, fallback: number): number =>
  typeof value === 'number' && Number.isFinite(value) ? value : fallback;

/**
 * Decodes a delivered message; throws on a body that is not JSON (a foreign publisher), which
 * the caller dead-letters. `x-delivery-count` counts returns (lease expiry, a lost channel).
 */
export function decode(
  content: Buffer,
  messageId: unknown,
  headers: Record<string, unknown> | undefined,
): DecodedMessage {
  const h = headers ?? {};
  const error = h[header.error];
  return {
    id: typeof messageId === 'string' ? messageId : '',
    payload: JSON.parse(content.toString('utf8')) as unknown,
    attempts: num(h[header.attempts], 0) + num(h['x-delivery-count'], 0) + 1,
    maxAttempts: num(h[header.maxAttempts], 3),
    priority: num(h[header.priority], 0),
    enqueuedAt: num(h[header.enqueuedAt], Date.now()),
    notBefore: num(h[header.notBefore], 0),
    error: typeof error === 'string' ? error : null,
    failedAt: num(h[header.failedAt], Date.now()),
  };
}

/** A delivered message decoded, or `undefined` when its body is not JSON (not inferq's). */
export function tryDecode(raw: Message): DecodedMessage | undefined {
  try {
    return decode(raw.content, raw.properties.messageId, raw.properties.headers);
  } catch {
    return undefined;
  }
}

/** The fields to publish a decoded message again with; callers set `attempts` as they need. */
export function outgoing(message: DecodedMessage): OutgoingMessage {
  const { id, payload, maxAttempts, priority, enqueuedAt } = message;
  return { id, payload, attempts: message.attempts, maxAttempts, priority, enqueuedAt };
}
