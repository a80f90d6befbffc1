import { createHmac, timingSafeEqual } from 'node:crypto';

export interface VerifyWebhookOptions {
  /** Your tenant's webhook secret (`GET /v1/webhooks/secret`, or `client.webhookSecret()`). */
  secret: string;
  /** The request body exactly as received: the raw bytes or text, before any JSON parsing. */
  body: string | Uint8Array;
  /** The `inferq-signature` header. */
  signature: string | undefined;
  /** How old a signature may be, in seconds (default 300): a replayed old delivery is refused. */
  toleranceSeconds?: number;
  /** Now, in ms (default `Date.now()`). */
  now?: number;
}

/**
 * Checks that a webhook delivery came from your inferq server and was not altered or replayed:
 * the `inferq-signature` header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. True
 * only when the HMAC matches (compared in constant time) and `t` is within the tolerance.
 *
 * ```ts
 * app.post('/inferq-callback', { config: { rawBody: true } }, (request, reply) => {
 *   if (!verifyWebhook({ secret, body: request.rawBody, signature: request.headers['inferq-signature'] }))
 *     return reply.code(401).send();
 *   const task = JSON.parse(request.rawBody);
 *   …
 * });
 * ```
 */
export function verifyWebhook(options: VerifyWebhookOptions): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(options.signature?.trim() ?? '');
  if (match === null) return false;
  const t = Number(match[1]);
  const now = (options.now ?? Date.now()) / 1_000;
  if (Math.abs(now - t) > (options.toleranceSeconds ?? 300)) return false;
  const expected = createHmac('sha256', options.secret).update(`${t}.`).update(options.body).digest();
  return timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'));
}
