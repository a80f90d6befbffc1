import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookDispatcher } from '../../src/api/webhooks/webhook-dispatcher.js';
import { verifyWebhook } from '../../src/client/index.js';
import { eventually } from '../fixtures/eventually.js';
import { type AppFixture, bearer, createAppFixture, finishTask } from './app-fixture.js';

// Webhook deliveries and /v1/webhooks/secret.

let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture({ config: { 'api.allowPrivateCallbacks': true } });
});
afterAll(async () => f.close());

const submit = (payload: object) =>
  f.app.inject({ method: 'POST', url: '/v1/tasks', headers: bearer(f.keys.user), payload });

/** A local webhook receiver that records each delivery and answers `status(n)` to the n-th. */
async function webhookReceiver(status: (n: number) => number) {
  const received: { body: string; signature: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += String(c);
    });
    req.on('end', () => {
      received.push({ body, signature: String(req.headers['inferq-signature']) });
      res.statusCode = status(received.length);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, server };
}

describe('webhooks', () => {
  it('POSTs the final task signed with the tenant secret, retries with backoff, records attempts', async () => {
    const { url, received, server } = await webhookReceiver((n) => (n === 1 ? 500 : 204));
    const [task] = (await submit({ target: 'echo', text: 'hook', callbackUrl: url })).json().tasks;
    await finishTask(f, task.id, { result: 'done' });

    let now = Date.now();
    const dispatcher = new WebhookDispatcher({
      store: f.store,
      auth: f.auth,
      logger: pino({ level: 'silent' }),
      allowPrivate: true,
      maxAttempts: 3,
      clock: () => now,
      backoff: { baseMs: 1_000, maxMs: 1_000, jitter: 0 },
    });
    expect(await dispatcher.deliverDue()).toBe(1);
    expect(await dispatcher.deliverDue()).toBe(0); // backing off
    now += 1_000;
    expect(await dispatcher.deliverDue()).toBe(1);
    await dispatcher.stop();
    server.close();

    const secret = (await f.auth.getTenant('acme'))!.webhookSecret;
    const { body, signature } = received[1]!;
    const t = /t=(\d+)/.exec(signature)![1];
    expect(signature).toBe(`t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`);
    expect(JSON.parse(body)).toMatchObject({ id: task.id, state: 'succeeded', result: 'done' });
    const shown = (await f.app.inject({ url: `/v1/tasks/${task.id}`, headers: bearer(f.keys.user) })).json();
    expect(shown.webhook).toMatchObject({
      state: 'delivered',
      attempts: [{ statusCode: 500 }, { statusCode: 204 }],
    });
  });

  it('tells a tenant its webhook secret, which verifies its deliveries (SDK verifyWebhook); rotating replaces it', async () => {
    const { url, received, server } = await webhookReceiver(() => 204);
    const dispatcher = new WebhookDispatcher({
      store: f.store,
      auth: f.auth,
      logger: pino({ level: 'silent' }),
      allowPrivate: true,
      maxAttempts: 1,
    });
    const deliver = async (text: string) => {
      const [task] = (await submit({ target: 'echo', text, callbackUrl: url })).json().tasks;
      await finishTask(f, task.id, { result: text });
      expect(await dispatcher.deliverDue()).toBe(1);
      return received.at(-1)!;
    };
    const secretOf = async (key: string, rotate = false) =>
      (
        await f.app.inject({
          method: rotate ? 'POST' : 'GET',
          url: rotate ? '/v1/webhooks/secret/rotate' : '/v1/webhooks/secret',
          headers: bearer(key),
        })
      ).json();

    const info = await secretOf(f.keys.user);
    expect(info).toMatchObject({ tenant: 'acme', header: 'inferq-signature' });
    expect(info.scheme).toMatch(/HMAC-SHA256/);
    // Each tenant sees its own.
    expect((await secretOf(f.keys.other)).secret).not.toBe(info.secret);
    const first = await deliver('signed once');
    expect(verifyWebhook({ secret: info.secret, ...first })).toBe(true);
    expect(
      verifyWebhook({ secret: info.secret, ...first, body: first.body.replace('signed', 'forged') }),
    ).toBe(false);

    // Replacing it is admin only (issue 17): a user key is refused and the secret stays.
    const refused = await f.app.inject({
      method: 'POST',
      url: '/v1/webhooks/secret/rotate',
      headers: bearer(f.keys.user),
    });
    expect([refused.statusCode, refused.json().error.code]).toEqual([403, 'INFERQ_FORBIDDEN']);
    expect((await secretOf(f.keys.user)).secret).toBe(info.secret);
    const rotated = await secretOf(f.keys.admin, true);
    expect(rotated.tenant).toBe('acme');
    expect(rotated.secret).not.toBe(info.secret);
    expect((await secretOf(f.keys.user)).secret).toBe(rotated.secret);
    const second = await deliver('signed after rotation');
    expect(verifyWebhook({ secret: rotated.secret, ...second })).toBe(true);
    expect(verifyWebhook({ secret: info.secret, ...second })).toBe(false);
    await dispatcher.stop();
    server.close();
  });

  it("one tenant's unresponsive callback hosts do not hold back another tenant's webhook", async () => {
    // Accepts connections and never answers: each of tenant A's deliveries hangs until its timeout.
    const hanging = createServer(() => {});
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const hangUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`;
    const { url, received, server } = await webhookReceiver(() => 204);
    const texts = Array.from({ length: 60 }, (_, i) => `slow ${i}`);
    const slow = (await submit({ target: 'echo', text: texts, callbackUrl: hangUrl })).json().tasks;
    const fast = (
      await f.app.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers: bearer(f.keys.other),
        payload: { target: 'echo', text: 'fast', callbackUrl: url },
      })
    ).json().tasks;
    for (const task of [...slow, ...fast]) await finishTask(f, task.id, { result: 1 });

    const dispatcher = new WebhookDispatcher({
      store: f.store,
      auth: f.auth,
      logger: pino({ level: 'silent' }),
      allowPrivate: true,
      maxAttempts: 1,
      perTenant: 4,
    });
    dispatcher.start(10);
    try {
      // Tenant A's 60 deliveries come first; with the batch awaited together (10 s timeouts)
      // tenant B's waits for three batches.
      await eventually(() => expect(received).toHaveLength(1), { timeoutMs: 8_000, intervalMs: 20 });
      expect(JSON.parse(received[0]!.body)).toMatchObject({ id: fast[0].id });
      // Delivered while every one of A's is still pending, none attempted to the end.
      const deliveries = await Promise.all(slow.map((t: { id: string }) => f.store.getWebhookDelivery(t.id)));
      expect(deliveries.map((d) => [d?.state, d?.attempts.length])).toEqual(slow.map(() => ['pending', 0]));
    } finally {
      hanging.closeAllConnections();
      hanging.close();
      await dispatcher.stop();
      // The rest of A's now fail at once (connection refused): settle them for the tests after.
      const drain = new WebhookDispatcher({
        store: f.store,
        auth: f.auth,
        logger: pino({ level: 'silent' }),
        allowPrivate: true,
        maxAttempts: 1,
        perTenant: 60,
        batchSize: 60,
      });
      while ((await drain.deliverDue()) > 0);
      await drain.stop();
      server.close();
    }
  });

  it('refuses private targets at delivery time unless allowed', async () => {
    const [task] = (
      await submit({ target: 'echo', text: 'ssrf', callbackUrl: 'http://127.0.0.1:9/x' })
    ).json().tasks;
    await finishTask(f, task.id, { result: 1 });
    const dispatcher = new WebhookDispatcher({
      store: f.store,
      auth: f.auth,
      logger: pino({ level: 'silent' }),
      allowPrivate: false,
      maxAttempts: 1,
    });
    await dispatcher.deliverDue();
    await dispatcher.stop();
    const delivery = await f.store.getWebhookDelivery(task.id);
    expect(delivery).toMatchObject({
      state: 'failed',
      attempts: [{ statusCode: null, error: expect.stringContaining('refused') }],
    });
  });
});
