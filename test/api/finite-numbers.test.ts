import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppFixture, bearer, createAppFixture } from './app-fixture.js';

let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture();
});
afterAll(async () => {
  await f?.close();
});

/** Infinity, -Infinity and NaN read from a query string (Ajv coerces them to numbers) or 1e999 in JSON. */
describe('non-finite numbers are a 400 naming the parameter', () => {
  const cases: Array<[string, string, string, Record<string, string>?]> = [
    ['GET', '/v1/stats/events?intervalMs=Infinity', 'querystring/intervalMs'],
    ['GET', '/v1/stats/events?intervalMs=NaN', 'querystring/intervalMs'],
    ['POST', '/v1/models/echo/predict?timeoutMs=-Infinity', 'querystring/timeoutMs', { text: 'hi' }],
    ['POST', '/v1/models/echo/predict?timeoutMs=Infinity', 'querystring/timeoutMs', { text: 'hi' }],
    ['GET', '/v1/stats?windowSeconds=Infinity', 'querystring/windowSeconds'],
    ['GET', '/v1/stats/overview?windowSeconds=-Infinity', 'querystring/windowSeconds'],
    ['GET', '/v1/tasks?limit=Infinity', 'querystring/limit'],
  ];
  for (const [method, url, path, payload] of cases) {
    it(`${method} ${url}`, { timeout: 5_000 }, async () => {
      const res = await f.app.inject({
        method: method as 'GET' | 'POST',
        url,
        headers: bearer(f.keys.admin),
        ...(payload === undefined ? {} : { payload }),
      });
      expect(res.statusCode, res.body).toBe(400);
      const body = res.json() as { error: { code: string; message: string; details: { path: string } } };
      expect(body.error.code).toBe('INFERQ_VALIDATION_FAILED');
      expect(body.error.details.path).toBe(path);
      expect(body.error.message).toContain(path);
    });
  }

  it('refuses 1e999 (Infinity to JSON.parse) in a JSON body', async () => {
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: { ...bearer(f.keys.user), 'content-type': 'application/json' },
      payload: '{"target":"echo","text":"hi","params":{"delayMs":1e999}}',
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.details.path).toBe('body/params/delayMs');
  });
});
