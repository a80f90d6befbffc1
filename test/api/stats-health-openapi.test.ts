import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppFixture, bearer, createAppFixture, finishTask } from './app-fixture.js';

// /v1/stats, /healthz, /readyz, /metrics, /openapi.json, /docs and unknown routes.

let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture();
});
afterAll(async () => f.close());

const submit = (payload: object) =>
  f.app.inject({ method: 'POST', url: '/v1/tasks', headers: bearer(f.keys.user), payload });

describe('stats, health, OpenAPI', () => {
  it('GET /v1/stats counts by target and state for the caller; admins may ask for all', async () => {
    // A task of its own to count, not whatever other tests left behind.
    const [task] = (await submit({ target: 'echo', text: 'counted' })).json().tasks;
    await finishTask(f, task.id, { result: 1 });
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
