import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppFixture, bearer, createAppFixture } from './app-fixture.js';

let f: AppFixture;
let acmeTaskId: string;
beforeAll(async () => {
  f = await createAppFixture();
  const res = await f.app.inject({
    method: 'POST',
    url: '/v1/tasks',
    headers: bearer(f.keys.user),
    payload: { target: 'echo', text: 'mine' },
  });
  acmeTaskId = res.json().tasks[0].id;
});
afterAll(async () => f.close());

/** Fills path parameters with an object of tenant acme, so "other tenant" can be asked about it. */
const urlOf = (url: string) =>
  url.replace(':id', acmeTaskId).replace(':name', 'echo').replace(':keyId', 'ffffffffffffffff');

/** The code of an error body: `{ error: { code } }`, or on /v2 the protocol's `{ error: string, code }`. */
const errorCode = (res: { json(): unknown }) => {
  const body = res.json() as { error?: { code: string } | string; code?: string };
  return typeof body.error === 'string' ? body.code : body.error?.code;
};

describe('auth matrix (generated from the route table)', () => {
  it('covers the routes the issue lists', () => {
    const protectedRoutes = () => f.app.inferqRoutes.filter((r) => r.auth !== 'public').length;
    expect(protectedRoutes()).toBeGreaterThanOrEqual(16);
  });

  const cases = () => f.app.inferqRoutes.filter((r) => r.auth !== 'public');
  // A valid body where a route needs one, so the answer is about auth and ownership only.
  const inject = (route: { method: string; url: string }, headers: Record<string, string>) =>
    f.app.inject({
      method: route.method as 'GET',
      url: urlOf(route.url),
      headers,
      ...(route.url.endsWith('/feedback') ? { payload: { feedback: 1 } } : {}),
    });

  it('every protected route: no token → 401 INFERQ_AUTH_REQUIRED', async () => {
    for (const route of cases()) {
      const res = await inject(route, {});
      expect([route.url, res.statusCode, errorCode(res)]).toEqual([route.url, 401, 'INFERQ_AUTH_REQUIRED']);
    }
  });

  it('every protected route: bad token or unknown key → 401 INFERQ_AUTH_INVALID', async () => {
    for (const route of cases()) {
      for (const credential of [
        'garbage',
        `iq_${'0'.repeat(16)}_${'A'.repeat(43)}`,
        f.app.jwt.sign({ tenant: 'acme', kid: 'x', admin: true }),
      ]) {
        const res = await inject(route, bearer(credential));
        expect([route.url, res.statusCode, errorCode(res)]).toEqual([route.url, 401, 'INFERQ_AUTH_INVALID']);
      }
    }
  });

  it('a key cut short is told apart from a bad token: the message says to send the key whole', async () => {
    for (const [credential, message] of [
      [f.keys.user.slice(0, 30), /^the API key is malformed: .* send it whole$/],
      [`${f.keys.user}x`, /^the API key is malformed/],
      ['eyJhbGciOiJIUzI1NiJ9.e30.x', /^the token is malformed or not signed by this server$/],
    ] as const) {
      const res = await f.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(credential) });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('INFERQ_AUTH_INVALID');
      expect(res.json().error.message).toMatch(message);
    }
  });

  it('every protected route: expired token → 401 INFERQ_AUTH_EXPIRED', async () => {
    const key = (await f.auth.listApiKeys({ tenant: 'acme' })).find((k) => k.admin)!;
    const past = Math.floor(Date.now() / 1000) - 3600;
    const expired = f.app.jwt.sign({ tenant: 'acme', kid: key.id, admin: true, iat: past, exp: past + 60 });
    for (const route of cases()) {
      const res = await inject(route, bearer(expired));
      expect([route.url, res.statusCode, errorCode(res)]).toEqual([route.url, 401, 'INFERQ_AUTH_EXPIRED']);
    }
  });

  it('a token without exp, or signed with another HMAC algorithm than HS256, is refused', async () => {
    const key = (await f.auth.listApiKeys({ tenant: 'acme' })).find((k) => !k.admin)!;
    const now = Math.floor(Date.now() / 1000);
    const claims = { tenant: 'acme', kid: key.id, admin: false, iat: now, exp: now + 600 };
    // Signed here with the server's own secret, as any holder of it (or a library default) would.
    const signed = (alg: 'HS256' | 'HS384' | 'HS512', payload: object) => {
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const body = `${part({ alg, typ: 'JWT' })}.${part(payload)}`;
      const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
      return `${body}.${createHmac(hash, f.jwtSecret).update(body).digest('base64url')}`;
    };
    const models = (token: string) =>
      f.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(token) });
    // The same claims signed as the server signs them pass: what follows is refused for its flaw.
    expect((await models(signed('HS256', claims))).statusCode).toBe(200);
    for (const alg of ['HS384', 'HS512'] as const) {
      const res = await models(signed(alg, claims));
      expect([alg, res.statusCode, errorCode(res)]).toEqual([alg, 401, 'INFERQ_AUTH_INVALID']);
    }
    const { exp: _exp, ...forever } = claims;
    const noExp = await models(signed('HS256', forever));
    expect([noExp.statusCode, errorCode(noExp)]).toEqual([401, 'INFERQ_AUTH_INVALID']);
    expect(noExp.json().error.message).toMatch(/no expiry \(exp\)/);
  });

  it("every task route: another tenant's task → 404, indistinguishable from a missing one", async () => {
    for (const route of cases().filter((r) => r.url.includes('/tasks/:id'))) {
      const res = await inject(route, bearer(f.keys.other));
      expect([route.method, route.url, res.statusCode, errorCode(res)]).toEqual([
        route.method,
        route.url,
        404,
        'INFERQ_TASK_NOT_FOUND',
      ]);
    }
    const requestId = (await f.store.getTask(acmeTaskId))!.requestId;
    const res = await f.app.inject({
      method: 'GET',
      url: `/v1/requests/${requestId}/events`,
      headers: bearer(f.keys.other),
    });
    expect(errorCode(res)).toBe('INFERQ_REQUEST_NOT_FOUND');
    const listed = await f.app.inject({ method: 'GET', url: '/v1/tasks', headers: bearer(f.keys.other) });
    expect(listed.json().items.map((t: { id: string }) => t.id)).not.toContain(acmeTaskId);
  });

  it('every admin route: non-admin key → 403 INFERQ_FORBIDDEN; admin passes auth', async () => {
    const adminRoutes = f.app.inferqRoutes.filter((r) => r.auth === 'admin');
    expect(adminRoutes.length).toBeGreaterThan(0);
    for (const route of adminRoutes) {
      const res = await inject(route, bearer(f.keys.user));
      expect([route.url, res.statusCode, errorCode(res)]).toEqual([route.url, 403, 'INFERQ_FORBIDDEN']);
      const asAdmin = await inject(route, bearer(f.keys.admin));
      expect(asAdmin.statusCode).not.toBe(401);
      expect(asAdmin.statusCode).not.toBe(403);
    }
    const stats = await f.app.inject({
      method: 'GET',
      url: '/v1/stats?all=true',
      headers: bearer(f.keys.user),
    });
    expect(errorCode(stats)).toBe('INFERQ_FORBIDDEN');
  });

  it('public routes need no credentials', async () => {
    for (const route of f.app.inferqRoutes.filter(
      (r) => r.auth === 'public' && r.method === 'GET' && !r.url.includes('*'),
    )) {
      const res = await f.app.inject({ method: 'GET', url: route.url });
      expect([route.url, res.statusCode < 400]).toEqual([route.url, true]);
    }
  });
});

describe('POST /v1/auth/token and key revocation', () => {
  it('exchanges a key for a token that works as Bearer; revoking the key ends both', async () => {
    const created = await f.auth.createApiKey({ tenant: 'acme' });
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      payload: { apiKey: created.key },
    });
    expect(res.json()).toMatchObject({ tokenType: 'Bearer', tenant: 'acme', admin: false, expiresIn: 3600 });
    const token = res.json().token;
    expect(
      (await f.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(token) })).statusCode,
    ).toBe(200);
    const revoke = await f.app.inject({
      method: 'DELETE',
      url: `/v1/keys/${created.record.id}`,
      headers: bearer(f.keys.admin),
    });
    expect(revoke.json()).toEqual({ id: created.record.id, revoked: true });
    for (const credential of [token, created.key]) {
      expect(
        errorCode(await f.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(credential) })),
      ).toBe('INFERQ_AUTH_INVALID');
    }
    const bad = await f.app.inject({ method: 'POST', url: '/v1/auth/token', payload: { apiKey: 'nope' } });
    expect([bad.statusCode, errorCode(bad)]).toEqual([401, 'INFERQ_AUTH_INVALID']);
    // A token is not exchanged for another (that would outlive a revoked key).
    const live = await f.app.inject({ method: 'POST', url: '/v1/auth/token', headers: bearer(f.keys.user) });
    const renewed = await f.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: bearer(live.json().token),
    });
    expect([renewed.statusCode, errorCode(renewed)]).toEqual([401, 'INFERQ_AUTH_INVALID']);
    const again = await f.app.inject({
      method: 'DELETE',
      url: `/v1/keys/${created.record.id}`,
      headers: bearer(f.keys.admin),
    });
    expect(errorCode(again)).toBe('INFERQ_API_KEY_NOT_FOUND');
  });

  it('takes the key as Authorization: Bearer when there is no body; neither → 401 saying how to send it', async () => {
    const res = await f.app.inject({ method: 'POST', url: '/v1/auth/token', headers: bearer(f.keys.user) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ tokenType: 'Bearer', tenant: 'acme', admin: false });
    expect(
      (await f.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(res.json().token) }))
        .statusCode,
    ).toBe(200);
    // The body's key wins over the header's.
    const both = await f.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: bearer(f.keys.user),
      payload: { apiKey: f.keys.other },
    });
    expect(both.json().tenant).toBe('globex');
    const none = await f.app.inject({ method: 'POST', url: '/v1/auth/token' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error).toMatchObject({
      code: 'INFERQ_AUTH_REQUIRED',
      message: expect.stringContaining('{"apiKey": "iq_…"} or as Authorization: Bearer'),
    });
    const unknownField = await f.app.inject({ method: 'POST', url: '/v1/auth/token', payload: { key: 'x' } });
    expect(errorCode(unknownField)).toBe('INFERQ_VALIDATION_FAILED');
  });

  it('admins create and list keys over HTTP; the key is shown once', async () => {
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: bearer(f.keys.admin),
      payload: { tenant: 'initech' },
    });
    expect(res.statusCode).toBe(201);
    const listed = await f.app.inject({
      method: 'GET',
      url: '/v1/keys?tenant=initech',
      headers: bearer(f.keys.admin),
    });
    expect(listed.json().items).toHaveLength(1);
    expect(listed.body).not.toContain(res.json().key);
  });
});

describe('tenant limits', () => {
  it('rate limit → 429 INFERQ_RATE_LIMITED with Retry-After', async () => {
    let now = 1_000_000;
    const limited = await createAppFixture({ clock: () => now });
    await limited.auth.setTenantLimits('acme', { rateLimitPerMinute: 2 });
    const call = () =>
      limited.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(limited.keys.user) });
    expect((await call()).statusCode).toBe(200);
    expect((await call()).statusCode).toBe(200);
    const res = await call();
    expect([res.statusCode, errorCode(res), res.headers['retry-after']]).toEqual([
      429,
      'INFERQ_RATE_LIMITED',
      '30',
    ]);
    now += 30_000;
    expect((await call()).statusCode).toBe(200);
    await limited.close();
  });

  it('max queued tasks → 429 INFERQ_QUEUE_LIMIT_REACHED with Retry-After', async () => {
    await f.auth.setTenantLimits('globex', { maxQueuedTasks: 2 });
    const send = (text: string[]) =>
      f.app.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers: bearer(f.keys.other),
        payload: { target: 'echo', text },
      });
    expect((await send(['q1', 'q2'])).statusCode).toBe(202);
    const res = await send(['q3']);
    expect([res.statusCode, errorCode(res)]).toEqual([429, 'INFERQ_QUEUE_LIMIT_REACHED']);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    // A request larger than the limit itself can never fit: 413, split it, no Retry-After.
    await f.auth.setTenantLimits('globex', { maxQueuedTasks: 5 });
    const whole = await send(['w1', 'w2', 'w3', 'w4', 'w5', 'w6']);
    expect([whole.statusCode, errorCode(whole), whole.headers['retry-after']]).toEqual([
      413,
      'INFERQ_TOO_MANY_INPUTS',
      undefined,
    ]);
    expect(whole.json().error).toMatchObject({
      message: expect.stringContaining('split it into requests of at most 5'),
      details: { limit: 5, tasks: 6, queuedLimit: true },
    });
  });
});
