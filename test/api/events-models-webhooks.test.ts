import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TaskWakeups } from '../../src/api/task-wakeups.js';
import { WebhookDispatcher } from '../../src/api/webhooks/webhook-dispatcher.js';
import { verifyWebhook } from '../../src/client/index.js';
import { processBatch } from '../../src/worker/process-batch.js';
import {
  type AppFixture,
  bearer,
  createAppFixture,
  finishTask,
  submitOne as submitEcho,
} from './app-fixture.js';

let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture({ config: { 'api.allowPrivateCallbacks': true, 'api.predictTimeout': 300 } });
});
afterAll(async () => f.close());

const submit = (payload: object) =>
  f.app.inject({ method: 'POST', url: '/v1/tasks', headers: bearer(f.keys.user), payload });

describe('Server-Sent Events', () => {
  it('/v1/tasks/{id}/events streams state changes and ends when final', async () => {
    const [task] = (await submit({ target: 'echo', text: 'sse' })).json().tasks;
    const streamed = f.app.inject({
      method: 'GET',
      url: `/v1/tasks/${task.id}/events`,
      headers: bearer(f.keys.user),
    });
    await finishTask(f, task.id, { result: 1 });
    const res = await streamed;
    expect(res.headers['content-type']).toContain('text/event-stream');
    const states = [...res.body.matchAll(/"state":"(\w+)"/g)].map((m) => m[1]);
    expect(states.at(-1)).toBe('succeeded');
    expect(res.body).toMatch(/event: end\n/);
  });

  it('/v1/requests/{id}/events ends when every task of the request is final', async () => {
    const { requestId, tasks } = (await submit({ target: 'echo', text: ['r1', 'r2'] })).json();
    for (const t of tasks) await finishTask(f, t.id, { result: t.id });
    const res = await f.app.inject({
      method: 'GET',
      url: `/v1/requests/${requestId}/events`,
      headers: bearer(f.keys.user),
    });
    expect(res.body.match(/event: state/g)).toHaveLength(2);
    expect(res.body).toContain('"tasks":2');
  });

  it('/v1/requests/{id}/events reads only the open tasks again; a purged one ends the wait for it', async () => {
    const { requestId, tasks } = (await submit({ target: 'echo', text: ['o1', 'o2', 'o3'] })).json();
    const [done, later, purged] = tasks as Array<{ id: string }>;
    await finishTask(f, done!.id, { result: 1 });
    const reads = vi.spyOn(f.store, 'listTasks');
    try {
      const stream = f.app.inject({
        method: 'GET',
        url: `/v1/requests/${requestId}/events`,
        headers: bearer(f.keys.user),
      });
      // Once the stream has read the request, the other two change.
      await expect.poll(() => reads.mock.calls.length).toBeGreaterThan(0);
      await finishTask(f, later!.id, { result: 2 });
      // Deleted while queued, without a cancel (as another host's purge would leave it): the stream
      // must stop waiting for it rather than wait forever.
      expect(await f.store.deleteTask(purged!.id)).toBe(true);
      const res = await stream;
      expect(res.body).toContain('event: end\ndata: {"tasks":2}');
      const states = [
        ...res.body.matchAll(
          /"id":"([^"]+)","requestId":"[^"]+","target":"[^"]+","targetKind":"\w+","state":"(\w+)"/g,
        ),
      ].map((m) => [m[1], m[2]]);
      expect(states).toContainEqual([later!.id, 'succeeded']);
      // One read of the whole request, then reads by id of the tasks still open: never `done`.
      const filters = reads.mock.calls.map(([filter]) => filter);
      expect(filters[0]).toMatchObject({ requestId });
      expect(filters.length).toBeGreaterThan(1);
      for (const filter of filters.slice(1)) {
        expect(filter.requestId).toBeUndefined();
        expect(filter.ids).not.toContain(done!.id);
      }
    } finally {
      reads.mockRestore();
    }
  });
});

describe('models, predict, stats, health', () => {
  it('GET /v1/models and /v1/models/{name} show limits, params schema, batching and queue depth', async () => {
    const list = (
      await f.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(f.keys.user) })
    ).json();
    expect(list.items.map((m: { ref: string }) => m.ref)).toEqual(['echo@1.0.0', 'vision@1', 'words@1']);
    const echo = (
      await f.app.inject({ method: 'GET', url: '/v1/models/echo@1.0.0', headers: bearer(f.keys.user) })
    ).json();
    expect(echo).toMatchObject({
      input: { kind: 'file', maxBytes: 1024 },
      params: { type: 'object' },
      queue: { waiting: expect.any(Number) },
    });
    const missing = await f.app.inject({
      method: 'GET',
      url: '/v1/models/nope',
      headers: bearer(f.keys.user),
    });
    expect(missing.json().error.code).toBe('INFERQ_MODEL_NOT_FOUND');
  });

  it('GET /v1/models shows the input limit a submission is held to: the server cap when lower', async () => {
    const capped = await createAppFixture({ config: { 'blobs.maxBytes': 512 } });
    try {
      const echo = (
        await capped.app.inject({ method: 'GET', url: '/v1/models/echo', headers: bearer(capped.keys.user) })
      ).json();
      expect(echo.input.maxBytes).toBe(512); // the model allows 1024
      const tooBig = await capped.app.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers: bearer(capped.keys.user),
        payload: { target: 'echo', data: Buffer.alloc(600, 1).toString('base64') },
      });
      expect(tooBig.statusCode).toBe(413);
      expect(tooBig.json().error.details.maxBytes).toBe(echo.input.maxBytes);
    } finally {
      await capped.close();
    }
  });

  it('POST /v1/models/{name}/predict waits for the result, or answers 504 with the task id', async () => {
    const predict = (text: string) =>
      f.app.inject({
        method: 'POST',
        url: '/v1/models/echo/predict',
        headers: bearer(f.keys.user),
        payload: { text },
      });
    const pending = predict('sync');
    // Play the worker: lease the job the predict call enqueued, then complete its task.
    // Jobs of tasks finished by earlier tests are still in the queue: skip those.
    let done = false;
    while (!done) {
      for (const job of await f.broker.lease('echo@1.0.0', { max: 100, leaseMs: 60_000, waitMs: 100 })) {
        const id = (job.payload as { taskId: string }).taskId;
        if ((await f.store.getTask(id))?.state !== 'queued') continue;
        await finishTask(f, id, { result: { echoed: true } });
        done = true;
      }
    }
    const res = await pending;
    expect([res.statusCode, res.json().result]).toEqual([200, { echoed: true }]);
    const late = await predict('nobody runs this');
    expect(late.statusCode).toBe(504);
    expect(late.json().error).toMatchObject({
      code: 'INFERQ_PREDICT_TIMEOUT',
      details: { taskId: expect.any(String) },
    });
  });

  it('GET /v1/stats counts by target and state for the caller; admins may ask for all', async () => {
    const mine = (
      await f.app.inject({ method: 'GET', url: '/v1/stats', headers: bearer(f.keys.user) })
    ).json();
    expect(mine.scope).toBe('acme');
    expect(
      mine.byTarget.find((t: { target: string }) => t.target === 'echo@1.0.0').counts.succeeded,
    ).toBeGreaterThan(0);
    expect(mine.recent[0]).toMatchObject({ p50Ms: expect.any(Number), perSecond: expect.any(Number) });
    const all = await f.app.inject({
      method: 'GET',
      url: '/v1/stats?all=true',
      headers: bearer(f.keys.admin),
    });
    expect(all.json().scope).toBe('all');
  });

  it('/healthz, /readyz, /metrics, /openapi.json, /docs, and unknown routes', async () => {
    expect((await f.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await f.app.inject({ url: '/readyz' })).json()).toEqual({
      status: 'ready',
      checks: { store: 'ok', broker: 'ok', blobs: 'ok' },
    });
    expect((await f.app.inject({ url: '/metrics' })).body).toContain('inferq_http_requests_total');
    const spec = (await f.app.inject({ url: '/openapi.json' })).json();
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/v1/tasks', '/v1/tasks/{id}/events', '/v1/models/{name}/predict']),
    );
    expect((await f.app.inject({ url: '/docs' })).statusCode).toBeLessThan(400);
    // Under /v2, in the Open Inference Protocol's error shape.
    expect((await f.app.inject({ url: '/v2/nothing' })).json()).toMatchObject({
      error: expect.any(String),
      code: 'INFERQ_ROUTE_NOT_FOUND',
    });
  });

  it('/openapi.json documents the multipart form of the file-taking routes, fields before files', async () => {
    const spec = (await f.app.inject({ url: '/openapi.json' })).json();
    for (const path of ['/v1/tasks', '/v1/models/{name}/predict']) {
      const content = spec.paths[path].post.requestBody.content;
      expect(Object.keys(content), path).toEqual(['application/json', 'multipart/form-data']);
      const form = content['multipart/form-data'].schema;
      expect(form.required, path).toEqual(['file']);
      expect(form.description, path).toMatch(/Fields must come before the files/);
      // Swagger UI sends the form in property order: the file last.
      expect(Object.keys(form.properties).at(-1), path).toBe('file');
      expect(JSON.stringify(form.properties.file), path).toContain('"format":"binary"');
      // The routes refuse a field they do not know; schemathesis sent such forms as valid.
      expect(form.additionalProperties, path).toBe(false);
    }
    expect(
      Object.keys(spec.paths['/v1/tasks'].post.requestBody.content['multipart/form-data'].schema.properties),
    ).toEqual(['target', 'params', 'priority', 'callbackUrl', 'file']);
  });

  it('/openapi.json documents each route’s error answers and which routes need no key', async () => {
    const spec = (await f.app.inject({ url: '/openapi.json' })).json();
    const errorRef = { $ref: '#/components/schemas/ErrorBody' };
    // The Open Inference Protocol routes answer errors in that protocol's shape.
    const oipErrorRef = { $ref: '#/components/schemas/OipErrorBody' };
    const responses = (path: string, method: string) => spec.paths[path][method].responses;
    // Every route: its success answer, and 4XX/5XX in the one error shape.
    for (const [path, methods] of Object.entries(spec.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(methods)) {
        const documented = Object.keys(responses(path, method));
        expect(
          documented.some((status) => status.startsWith('2')),
          `${method} ${path}`,
        ).toBe(true);
        // (Event streams document every answer under text/event-stream, their `produces`.)
        const content = Object.values(responses(path, method)['4XX'].content) as Array<{ schema: unknown }>;
        expect(content[0]?.schema, `${method} ${path}`).toEqual(
          path.startsWith('/v2') ? oipErrorRef : errorRef,
        );
      }
    }
    expect(Object.keys(spec.components.schemas)).toEqual(
      expect.arrayContaining(['ErrorBody', 'OipErrorBody']),
    );
    // Keyed routes add 401 and 429; admin routes 403; public routes say so.
    expect(Object.keys(responses('/v1/tasks', 'post'))).toEqual(
      expect.arrayContaining(['202', '401', '429', '4XX', '5XX']),
    );
    expect(responses('/v1/tasks', 'post')['403']).toBeUndefined();
    expect(responses('/v1/keys', 'post')['403'].description).toMatch(/INFERQ_FORBIDDEN/);
    for (const path of ['/healthz', '/readyz', '/metrics', '/v1/auth/token']) {
      const method = path === '/v1/auth/token' ? 'post' : 'get';
      expect(spec.paths[path][method].security, path).toEqual([]);
      expect(responses(path, method)['401'], path).toBeUndefined();
    }
    expect(spec.paths['/v1/tasks'].get.security).toBeUndefined(); // the document's default: bearer
    expect(spec.security).toEqual([{ bearer: [] }]);
  });

  it('/readyz reports a backend whose ping hangs as timed out (503) instead of hanging with it', async () => {
    // A stand-in for a PostgreSQL pool that keeps reconnecting: the ping never settles.
    const ping = f.store.ping;
    f.store.ping = () => new Promise<void>(() => {});
    try {
      const response = await f.app.inject({ url: '/readyz' });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({
        status: 'unavailable',
        checks: { store: 'timeout', broker: 'ok', blobs: 'ok' },
      });
    } finally {
      f.store.ping = ping;
    }
  });
});

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
      await vi.waitFor(() => expect(received).toHaveLength(1), { timeout: 8_000, interval: 20 });
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

describe('event streams wake on worker announcements', () => {
  let slow: AppFixture;
  beforeAll(async () => {
    // Ten minutes between store reads: only a wake-up can end these streams within the test.
    slow = await createAppFixture({ pollIntervalMs: 600_000 });
  });
  afterAll(async () => slow.close());

  const submitOne = (text: string) => submitEcho(slow, text);

  it('a stream ends as soon as the worker that settles its task announces it', async () => {
    const submitted = await slow.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: bearer(slow.keys.user),
      payload: { target: 'echo', text: ['wake 1', 'wake 2'] },
    });
    const { requestId, tasks } = submitted.json() as { requestId: string; tasks: Array<{ id: string }> };
    const perTask = slow.app.inject({
      method: 'GET',
      url: `/v1/tasks/${tasks[0]!.id}/events`,
      headers: bearer(slow.keys.user),
    });
    const perRequest = slow.app.inject({
      method: 'GET',
      url: `/v1/requests/${requestId}/events`,
      headers: bearer(slow.keys.user),
    });
    // Let both streams read the store once and start waiting.
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The real worker step: lease, claim, run, settle, announce, ack.
    const jobs = await slow.broker.lease('echo@1.0.0', { max: 10, leaseMs: 30_000 });
    const report = await processBatch(
      {
        store: slow.store,
        broker: slow.broker,
        workerId: 'w-wake',
        handler: async (items) => items.map(() => ({ ok: true as const, result: { ok: 1 } })),
      },
      jobs,
    );
    expect(report.succeeded).toBe(2);
    const [one, all] = await Promise.all([perTask, perRequest]);
    expect([...one.body.matchAll(/"state":"(\w+)"/g)].map((m) => m[1]).at(-1)).toBe('succeeded');
    expect(one.body).toMatch(/event: end\n/);
    expect(all.body).toContain('"tasks":2');
  });

  it('a stream shows `running` when the worker starts the task, not at its next poll', async () => {
    const id = await submitOne('start me');
    const reads = vi.spyOn(slow.store, 'getTask');
    const stream = slow.app.inject({
      method: 'GET',
      url: `/v1/tasks/${id}/events`,
      headers: bearer(slow.keys.user),
    });
    await vi.waitFor(() => expect(reads).toHaveBeenCalled());
    const jobs = await slow.broker.lease('echo@1.0.0', { max: 10, leaseMs: 30_000 });
    let readWhileRunning = false;
    const report = await processBatch(
      {
        store: slow.store,
        broker: slow.broker,
        workerId: 'w-start',
        // The model runs until the stream has read the store again (the start woke it), or
        // gives up after 3 s: with a 10-minute poll, nothing else makes the stream read.
        handler: async (items) => {
          const before = reads.mock.calls.length;
          for (let waited = 0; waited < 3_000 && reads.mock.calls.length === before; waited += 10) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          readWhileRunning = reads.mock.calls.length > before;
          return items.map(() => ({ ok: true as const, result: { ok: 1 } }));
        },
      },
      jobs,
    );
    reads.mockRestore();
    expect(report.succeeded).toBe(1);
    expect(readWhileRunning).toBe(true);
    const states = [...(await stream).body.matchAll(/"state":"(\w+)"/g)].map((m) => m[1]);
    expect(states).toEqual(['queued', 'running', 'succeeded']);
  });

  it('a start wakes only the watches that asked for starts; an announcement between waits is kept', async () => {
    const wakeups = new TaskWakeups(slow.broker, pino({ level: 'silent' }));
    const finalOnly = await wakeups.watch(['t-1']); // ?wait= and predict
    const withStarts = await wakeups.watch(['t-1', 't-2'], { starts: true }); // event streams
    const woken: string[] = [];
    const waitFinal = finalOnly.next(600_000).then(() => woken.push('final-only'));
    const waitStarts = withStarts.next(600_000).then(() => woken.push('with-starts'));
    wakeups.notify(['t-1'], 'started');
    await waitStarts;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(woken).toEqual(['with-starts']);
    wakeups.notify(['t-1']);
    await waitFinal;
    expect(woken).toEqual(['with-starts', 'final-only']);
    // Announced while its holder was not waiting (reading the store): the next wait returns at
    // once instead of sleeping for the ten minutes.
    wakeups.notify(['t-2']);
    await withStarts.next(600_000);
    finalOnly.close();
    withStarts.close();
    await wakeups.close();
  });

  it('a cancel through the API wakes the streams of the cancelled task', async () => {
    const id = await submitOne('to cancel');
    const stream = slow.app.inject({
      method: 'GET',
      url: `/v1/tasks/${id}/events`,
      headers: bearer(slow.keys.user),
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const cancelled = await slow.app.inject({
      method: 'DELETE',
      url: `/v1/tasks/${id}`,
      headers: bearer(slow.keys.user),
    });
    expect(cancelled.statusCode).toBe(200);
    const res = await stream;
    expect([...res.body.matchAll(/"state":"(\w+)"/g)].map((m) => m[1]).at(-1)).toBe('cancelled');
  });
});
