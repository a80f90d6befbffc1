import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppFixture, bearer, createAppFixture, finishTask } from './app-fixture.js';

// /v1/models, /v1/models/{name} and /v1/models/{name}/predict.

let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture({ config: { 'api.predictTimeout': 300 } });
});
afterAll(async () => f.close());

describe('models and predict', () => {
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
});
