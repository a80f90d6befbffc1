import { createHmac } from 'node:crypto';
import { expect, it } from 'vitest';
import { signWebhook } from '../../src/api/webhooks/webhook-dispatcher.js';
import { verifyWebhook } from '../../src/client/index.js';

it('accepts what the server signs, and nothing altered, replayed late or malformed', () => {
  const secret = 'tenant-secret';
  const body = JSON.stringify({ id: 't1', state: 'succeeded', result: { text: 'héllo' } });
  const at = 1_795_000_000_000;
  const signature = signWebhook(secret, body, at);
  expect(verifyWebhook({ secret, body, signature, now: at + 1_000 })).toBe(true);
  expect(verifyWebhook({ secret, body: Buffer.from(body), signature, now: at })).toBe(true);
  expect(verifyWebhook({ secret: 'other', body, signature, now: at })).toBe(false);
  expect(verifyWebhook({ secret, body: `${body} `, signature, now: at })).toBe(false);
  // Older (or newer) than the tolerance: a replay.
  expect(verifyWebhook({ secret, body, signature, now: at + 301_000 })).toBe(false);
  expect(verifyWebhook({ secret, body, signature, now: at + 3_599_000, toleranceSeconds: 3_600 })).toBe(true);
  // Another timestamp with the same MAC does not pass.
  const t = Math.floor(at / 1_000);
  const mac = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  expect(verifyWebhook({ secret, body, signature: `t=${t + 1},v1=${mac}`, now: at })).toBe(false);
  for (const bad of [undefined, '', 'v1=abc', `t=${t},v1=xyz`, `t=${t}`]) {
    expect(verifyWebhook({ secret, body, signature: bad, now: at })).toBe(false);
  }
});
