import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import type { CatalogEntry } from '../../src/core/model-catalog.js';
import { StaticModelCatalog } from '../../src/core/static-model-catalog.js';
import {
  type AppFixture,
  bearer,
  createAppFixture,
  finishTask,
  multipart,
  testCatalogEntries,
} from './app-fixture.js';

let f: AppFixture;
beforeAll(async () => {
  f = await createAppFixture();
});
afterAll(async () => f.close());

const submit = (payload: unknown, headers: Record<string, string> = {}, key = f.keys.user) =>
  f.app.inject({
    method: 'POST',
    url: '/v1/tasks',
    headers: { ...bearer(key), ...headers },
    payload: payload as object,
  });
const get = (url: string, key = f.keys.user) => f.app.inject({ method: 'GET', url, headers: bearer(key) });
const code = (res: { json(): unknown }) => (res.json() as { error: { code: string } }).error.code;

const png = () =>
  sharp({ create: { width: 4, height: 4, channels: 3, background: '#f00' } })
    .png()
    .toBuffer();

describe('POST /v1/tasks (JSON)', () => {
  it('creates N inputs × M targets under one request id, with each input hash, and enqueues them', async () => {
    const res = await submit({ targets: ['echo', 'words'], text: ['a', 'b'], priority: 5 });
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body.tasks).toHaveLength(4);
    expect(body.tasks.map((t: { target: string }) => t.target)).toEqual([
      'echo@1.0.0',
      'words@1',
      'echo@1.0.0',
      'words@1',
    ]);
    expect(body.tasks[0].inputSha256).toBe(sha256Hex('a'));
    const stored = await f.store.getTask(body.tasks[0].id);
    expect(stored).toMatchObject({ requestId: body.requestId, owner: 'acme', priority: 5, maxAttempts: 2 });
    expect(await f.broker.hasLiveJob('echo@1.0.0', body.tasks[0].id)).toBe(true);
    expect((await f.broker.depth('words@1')).waiting).toBeGreaterThanOrEqual(2);
  });

  it('a JSON body over the server limit → 413 naming the limit and the streamed way', async () => {
    const small = await createAppFixture({ config: { server: { bodyLimitBytes: 4096 } } });
    const res = await small.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: bearer(small.keys.user),
      payload: { target: 'echo', data: Buffer.alloc(6000, 1).toString('base64') },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatchObject({
      code: 'INFERQ_INPUT_TOO_LARGE',
      message: expect.stringMatching(
        /limit of 4096 bytes \(server\.bodyLimitBytes\); send large inputs as multipart/,
      ),
      details: { limit: 4096 },
    });
    await small.close();
  });

  it('one task per input for each model version, however the targets spell it', async () => {
    const res = await submit({ targets: ['echo', 'echo@1.0.0', 'words', 'echo'], text: 'once each' });
    expect(res.statusCode).toBe(202);
    expect(res.json().tasks.map((t: { target: string }) => t.target)).toEqual(['echo@1.0.0', 'words@1']);
  });

  it('takes base64 data and structured inputs', async () => {
    const res = await submit({
      target: 'echo',
      data: Buffer.from('bytes').toString('base64'),
      inputs: [{ json: { b: 1, a: 2 }, name: '../../etc/passwd' }, { text: 'x' }],
    });
    expect(res.statusCode).toBe(202);
    const [data, json] = res.json().tasks;
    expect(data.inputSha256).toBe(sha256Hex('bytes'));
    expect(json.inputSha256).toBe(sha256Hex('{"a":2,"b":1}'));
    expect(json.inputName).toBe('passwd');
    expect((await f.store.getTask(json.id))?.input.mediaType).toBe('application/json');
  });

  it('completes at once from the result cache, and says so', async () => {
    const first = (await submit({ target: 'echo', text: 'cache me', params: { delayMs: 1 } })).json()
      .tasks[0];
    expect(first.cached).toBe(false);
    // Not done yet: the same work is queued again, not answered.
    expect(
      (await submit({ target: 'echo', text: 'cache me', params: { delayMs: 1 } })).json().tasks[0].cached,
    ).toBe(false);
    await finishTask(f, first.id, { result: { ok: true } });
    const again = (await submit({ target: 'echo', text: 'cache me', params: { delayMs: 1 } })).json()
      .tasks[0];
    expect(again).toMatchObject({ state: 'succeeded', cached: true });
    expect(await f.broker.hasLiveJob('echo@1.0.0', again.id)).toBe(false);
    expect((await get(`/v1/tasks/${again.id}/result`)).json()).toEqual({
      id: again.id,
      cached: true,
      result: { ok: true },
    });
    // Other params are other work.
    expect((await submit({ target: 'echo', text: 'cache me' })).json().tasks[0].cached).toBe(false);
    // Another tenant is not answered from acme's tasks: it would learn that acme sent this input.
    const theirs = await submit(
      { target: 'echo', text: 'cache me', params: { delayMs: 1 } },
      {},
      f.keys.other,
    );
    expect(theirs.json().tasks[0]).toMatchObject({ state: 'queued', cached: false });
  });

  it('never answers a model with `cache: false` from the cache', async () => {
    // Its output is not a function of its input.
    const dice: CatalogEntry = {
      kind: 'model',
      name: 'dice',
      version: '1',
      available: true,
      spec: {
        name: 'dice',
        version: '1',
        runtime: 'js',
        artifact: './m.js',
        input: { kind: 'text' },
        cache: false,
      },
    };
    const own = await createAppFixture({ catalog: new StaticModelCatalog([...testCatalogEntries, dice]) });
    try {
      const roll = () =>
        own.app.inject({
          method: 'POST',
          url: '/v1/tasks',
          headers: bearer(own.keys.user),
          payload: { target: 'dice', text: 'roll' },
        });
      const first = (await roll()).json().tasks[0];
      await finishTask(own, first.id, { result: { roll: 4 } });
      const again = (await roll()).json().tasks[0];
      expect(again).toMatchObject({ state: 'queued', cached: false });
      expect(await own.broker.hasLiveJob('dice@1', again.id)).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('Idempotency-Key: same body → same tasks (200, replayed); other body → 409', async () => {
    const headers = { 'idempotency-key': 'order-42' };
    const first = await submit({ target: 'echo', text: 'idem' }, headers);
    const second = await submit({ target: 'echo', text: 'idem' }, headers);
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({ requestId: first.json().requestId, replayed: true });
    expect(second.json().tasks.map((t: { id: string }) => t.id)).toEqual(
      first.json().tasks.map((t: { id: string }) => t.id),
    );
    const other = await submit({ target: 'echo', text: 'other' }, headers);
    expect(other.statusCode).toBe(409);
    expect(code(other)).toBe('INFERQ_IDEMPOTENCY_CONFLICT');
    // Keys are per tenant.
    expect((await submit({ target: 'echo', text: 'other' }, headers, f.keys.other)).statusCode).toBe(202);
  });

  it.each([
    [
      'unknown model → 404 listing the available ones',
      { target: 'nope', text: 'a' },
      404,
      'INFERQ_MODEL_NOT_FOUND',
    ],
    [
      'params against the model schema → 400 with the path',
      { target: 'echo', text: 'a', params: { delayMs: -1 } },
      400,
      'INFERQ_PARAMS_INVALID',
    ],
    ['empty input → 400', { target: 'echo', text: '' }, 400, 'INFERQ_INPUT_EMPTY'],
    ['no input at all → 400', { target: 'echo' }, 400, 'INFERQ_INPUT_EMPTY'],
    ['no target → 400', { text: 'a' }, 400, 'INFERQ_VALIDATION_FAILED'],
    [
      'oversized for the model → 413',
      { target: 'echo', text: 'x'.repeat(2_000) },
      413,
      'INFERQ_INPUT_TOO_LARGE',
    ],
    [
      'media type judged from the bytes → 415',
      { target: 'vision', text: 'not an image' },
      415,
      'INFERQ_MEDIA_TYPE_UNSUPPORTED',
    ],
    [
      'unknown body field → 400',
      { target: 'echo', text: 'a', colour: 'red' },
      400,
      'INFERQ_VALIDATION_FAILED',
    ],
    ['bad base64 → 400', { target: 'echo', data: '***' }, 400, 'INFERQ_VALIDATION_FAILED'],
    [
      'loopback callback → 400',
      { target: 'echo', text: 'a', callbackUrl: 'http://127.0.0.1/h' },
      400,
      'INFERQ_CALLBACK_URL_REFUSED',
    ],
    [
      'non-http callback → 400',
      { target: 'echo', text: 'a', callbackUrl: 'file:///etc/passwd' },
      400,
      'INFERQ_CALLBACK_URL_REFUSED',
    ],
  ])('%s', async (_title, payload, status, errorCode) => {
    const before = await f.store.countTasks({});
    const res = await submit(payload);
    expect(res.statusCode).toBe(status);
    expect(code(res)).toBe(errorCode);
    expect(await f.store.countTasks({})).toEqual(before);
  });

  it('the 404 for an unknown model lists what is available; params errors carry the JSON path', async () => {
    expect((await submit({ target: 'nope', text: 'a' })).json().error.details.available).toEqual([
      'echo@1.0.0',
      'vision@1',
      'words@1',
    ]);
    expect(
      (await submit({ target: 'echo', text: 'a', params: { delayMs: 'x' } })).json().error.details.path,
    ).toBe('/params/delayMs');
    expect((await submit({ target: 'echo', priority: 'high', text: 'a' })).json().error.details.path).toBe(
      'body/priority',
    );
  });

  it('a body neither JSON nor multipart → 415 saying what to send', async () => {
    for (const type of ['text/plain', 'application/octet-stream']) {
      const res = await f.app.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers: { ...bearer(f.keys.user), 'content-type': type },
        payload: 'hello',
      });
      expect(res.statusCode, type).toBe(415);
      expect(res.json().error).toMatchObject({
        code: 'INFERQ_MEDIA_TYPE_UNSUPPORTED',
        message: 'send application/json or multipart/form-data',
      });
    }
  });

  it('malformed JSON → 400 INFERQ_BODY_MALFORMED', async () => {
    const res = await f.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: { ...bearer(f.keys.user), 'content-type': 'application/json' },
      payload: '{"target": ',
    });
    expect(res.statusCode).toBe(400);
    expect(code(res)).toBe('INFERQ_BODY_MALFORMED');
  });

  it('too many inputs × targets → 413 with the limit', async () => {
    const small = await createAppFixture({ config: { 'api.maxTasksPerRequest': 3 } });
    const res = await small.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: bearer(small.keys.user),
      payload: { targets: ['echo', 'words'], text: ['a', 'b'] },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatchObject({
      code: 'INFERQ_TOO_MANY_INPUTS',
      details: { limit: 3, tasks: 4 },
    });
    await small.close();
  });

  it('an undecodable image → 422; a good one passes; too many pixels → 413', async () => {
    const good = await png();
    expect((await submit({ target: 'vision', data: good.toString('base64') })).statusCode).toBe(202);
    const broken = Buffer.concat([good.subarray(0, 16), Buffer.alloc(64, 7)]);
    const res = await submit({ target: 'vision', data: broken.toString('base64') });
    expect(res.statusCode).toBe(422);
    expect(code(res)).toBe('INFERQ_INPUT_UNDECODABLE');
    // A body cut short past a sound header (an interrupted upload, a partial copy) is refused at
    // submission too, and no task is created for it.
    const photo = await sharp({ create: { width: 90, height: 90, channels: 3, background: '#fff' } })
      .composite([
        { input: Buffer.from('<svg width="90" height="90"><circle cx="45" cy="45" r="30"/></svg>') },
      ])
      .png({ compressionLevel: 0 })
      .toBuffer();
    const before = (await f.store.listTasks({ owner: 'acme' })).items.length;
    for (const cut of [await sharp(photo).jpeg().toBuffer(), photo]) {
      const truncated = cut.subarray(0, Math.floor(cut.length * 0.6));
      const answer = await submit({ target: 'vision', data: truncated.toString('base64') });
      expect([answer.statusCode, code(answer)]).toEqual([422, 'INFERQ_INPUT_UNDECODABLE']);
    }
    expect((await f.store.listTasks({ owner: 'acme' })).items).toHaveLength(before);
    const big = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    expect(code(await submit({ target: 'vision', data: big.toString('base64') }))).toBe(
      'INFERQ_INPUT_TOO_LARGE',
    );
  });
});

describe('POST /v1/tasks (multipart)', () => {
  it('streams several files; names are metadata only', async () => {
    const body = await multipart([
      ['target', 'echo'],
      ['params', '{"delayMs":0}'],
      ['file', Buffer.from('one'), '../../../etc/pass\u0000wd'],
      ['file', Buffer.from('two'), 'C:\\temp\\b.txt'],
    ]);
    const res = await submit(body.payload, body.headers);
    expect(res.statusCode).toBe(202);
    expect(res.json().tasks.map((t: { inputName: string }) => t.inputName)).toEqual(['pass_wd', 'b.txt']);
    expect(res.json().tasks[1].inputSha256).toBe(sha256Hex('two'));
  });

  it('keeps each file name with its task: shown by GET and listings, the download name of /input', async () => {
    const body = await multipart([
      ['target', 'echo'],
      ['file', Buffer.from('page one'), 'scans/Seite 1 (grün).txt'],
      ['file', Buffer.from('page two'), 'p2.txt'],
    ]);
    const res = await submit(body.payload, { ...body.headers, 'idempotency-key': 'names-1' });
    const [first, second] = res.json().tasks;
    expect((await get(`/v1/tasks/${first.id}`)).json().input).toEqual({
      sha256: sha256Hex('page one'),
      size: 8,
      mediaType: 'text/plain',
      name: 'Seite 1 (grün).txt',
    });
    const listed = (await get(`/v1/tasks?requestId=${res.json().requestId}`)).json().items;
    expect(listed.map((t: { input: { name: string } }) => t.input.name).sort()).toEqual([
      'Seite 1 (grün).txt',
      'p2.txt',
    ]);
    expect((await get(`/v1/tasks/${second.id}/input`)).headers['content-disposition']).toBe(
      'attachment; filename=p2.txt',
    );
    expect((await get(`/v1/tasks/${first.id}/input`)).headers['content-disposition']).toBe(
      `attachment; filename="Seite 1 (gr?n).txt"; filename*=UTF-8''Seite%201%20%28gr%C3%BCn%29.txt`,
    );
    // A retry with the same key answers with the same tasks, names included.
    const again = await submit(body.payload, { ...body.headers, 'idempotency-key': 'names-1' });
    expect(again.json().replayed).toBe(true);
    expect(
      again
        .json()
        .tasks.map((t: { inputName: string }) => t.inputName)
        .sort(),
    ).toEqual(['Seite 1 (grün).txt', 'p2.txt']);
    // A text input has no name: plain `attachment`.
    const [text] = (await submit({ target: 'echo', text: 'nameless' })).json().tasks;
    expect((await get(`/v1/tasks/${text.id}`)).json().input.name).toBeNull();
    expect((await get(`/v1/tasks/${text.id}/input`)).headers['content-disposition']).toBe('attachment');
  });

  it('refuses an oversized file (413), a field after a file (400), a broken body (400)', async () => {
    const big = await multipart([
      ['target', 'echo'],
      ['file', Buffer.alloc(5_000, 1), 'big.bin'],
    ]);
    expect(code(await submit(big.payload, big.headers))).toBe('INFERQ_INPUT_TOO_LARGE');
    // The target after the file (curl -F file=@a -F target=echo): the message says to swap them.
    const late = await multipart([
      ['file', Buffer.from('x'), 'a'],
      ['target', 'echo'],
    ]);
    const lateAnswer = await submit(late.payload, late.headers);
    expect(lateAnswer.statusCode).toBe(400);
    expect(lateAnswer.json().error).toMatchObject({
      code: 'INFERQ_VALIDATION_FAILED',
      message: expect.stringMatching(/^body\/target must come before the files/),
      details: { path: 'body/target' },
    });
    // Another field after a file, the target being first: named too.
    const lateParams = await multipart([
      ['target', 'echo'],
      ['file', Buffer.from('x'), 'a'],
      ['params', '{}'],
    ]);
    expect((await submit(lateParams.payload, lateParams.headers)).json().error).toMatchObject({
      code: 'INFERQ_VALIDATION_FAILED',
      message: 'field "params" must come before the files',
    });
    const broken = await multipart([
      ['target', 'echo'],
      ['file', Buffer.from('abc'), 'a'],
    ]);
    const truncated = broken.payload.subarray(0, broken.payload.length - 20);
    const res = await submit(truncated, broken.headers);
    expect(res.statusCode).toBe(400);
    expect(code(res)).toBe('INFERQ_BODY_MALFORMED');
  });

  it('takes blank fields as not given, as a form left empty sends them (the Swagger UI at /docs)', async () => {
    const body = await multipart([
      ['target', 'echo'],
      ['params', ''],
      ['priority', ' '],
      ['callbackUrl', ''],
      ['file', Buffer.from('blank fields'), 'a.txt'],
    ]);
    const res = await submit(body.payload, body.headers);
    expect(res.statusCode).toBe(202);
    const task = await f.store.getTask(res.json().tasks[0].id);
    expect(task).toMatchObject({ params: {}, priority: 0, callbackUrl: null });
  });

  it('judges the media type from the bytes, not the file name (415)', async () => {
    const body = await multipart([
      ['target', 'vision'],
      ['file', Buffer.from('plain text'), 'photo.png'],
    ]);
    expect(code(await submit(body.payload, body.headers))).toBe('INFERQ_MEDIA_TYPE_UNSUPPORTED');
  });
});

describe('reading tasks', () => {
  it('GET /v1/tasks lists newest first with filters and a cursor', async () => {
    const { requestId, tasks } = (await submit({ target: 'words', text: ['l1', 'l2', 'l3'] })).json();
    const page1 = (await get(`/v1/tasks?requestId=${requestId}&limit=2`)).json();
    expect(page1.items.map((t: { id: string }) => t.id)).toEqual([tasks[2].id, tasks[1].id]);
    const page2 = (await get(`/v1/tasks?requestId=${requestId}&limit=2&cursor=${page1.nextCursor}`)).json();
    expect(page2).toEqual({ items: [expect.objectContaining({ id: tasks[0].id })], nextCursor: null });
    const byHash = (await get(`/v1/tasks?inputSha256=${sha256Hex('l2')}&state=queued&target=words`)).json();
    expect(byHash.items.map((t: { id: string }) => t.id)).toEqual([tasks[1].id]);
    expect(code(await get('/v1/tasks?cursor=garbage'))).toBe('INFERQ_INVALID_CURSOR');
    expect(code(await get('/v1/tasks?state=sleeping'))).toBe('INFERQ_VALIDATION_FAILED');
  });

  it('GET /v1/tasks takes its time range in milliseconds or as ISO 8601 date-times', async () => {
    const { requestId, tasks } = (await submit({ target: 'words', text: ['t1'] })).json();
    const createdAt = (await get(`/v1/tasks/${tasks[0].id}`)).json().createdAt as number;
    const ids = async (query: string) =>
      (await get(`/v1/tasks?requestId=${requestId}&${query}`)).json().items.map((t: { id: string }) => t.id);
    const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
    // From is inclusive, to exclusive, in either spelling.
    expect(await ids(`createdFrom=${iso(createdAt)}&createdTo=${iso(createdAt + 1)}`)).toEqual([tasks[0].id]);
    expect(await ids(`createdFrom=${createdAt}&createdTo=${createdAt + 1}`)).toEqual([tasks[0].id]);
    expect(await ids(`createdFrom=${iso(createdAt + 1)}`)).toEqual([]);
    expect(await ids(`createdTo=${iso(createdAt)}`)).toEqual([]);
    const bad = await get('/v1/tasks?createdFrom=yesterday');
    expect(bad.statusCode).toBe(400);
    expect(code(bad)).toBe('INFERQ_VALIDATION_FAILED');
    // A range that ends before it starts (swapped bounds) is refused, not answered with nothing.
    const swapped = await get(`/v1/tasks?createdFrom=${createdAt + 1}&createdTo=${createdAt}`);
    expect([swapped.statusCode, code(swapped)]).toEqual([400, 'INFERQ_VALIDATION_FAILED']);
    expect(swapped.json().error.message).toMatch(
      /^querystring\/createdFrom \(.+\) is after createdTo \(.+\).*swap them$/,
    );
  });

  it('GET /v1/tasks refuses a time past what a date can hold, or a date-time that is no instant', async () => {
    // Found by schemathesis: 2^61 ms passed the schema and the swapped-range message's
    // toISOString() threw, a 500.
    for (const query of [
      'createdFrom=2305843009213693952&createdTo=0',
      'createdFrom=2021-12-31T23%3A59%3A60Z',
    ]) {
      const res = await get(`/v1/tasks?${query}`);
      expect([res.statusCode, code(res)], res.body).toEqual([400, 'INFERQ_VALIDATION_FAILED']);
      expect(res.json().error.message).toMatch(/^querystring\/createdFrom /);
    }
  });

  it('a 400 says what to send: the allowed values, or that a parameter or field is unknown', async () => {
    const message = (res: { json(): unknown }) =>
      (res.json() as { error: { message: string } }).error.message;
    const badState = await get('/v1/tasks?state=sleeping');
    expect(badState.statusCode).toBe(400);
    expect(message(badState)).toBe(
      'querystring/state must be one of "queued", "running", "succeeded", "failed", "cancelled"',
    );
    const unknownParam = await get('/v1/tasks?createdAfter=1');
    expect(unknownParam.statusCode).toBe(400);
    expect(message(unknownParam)).toBe(
      'querystring/createdAfter is not a known query parameter (the API reference at /docs lists them)',
    );
    // On every route: a misspelt parameter is refused, not ignored, and nothing is done.
    const [task] = (await submit({ target: 'words', text: 'keep me' })).json().tasks;
    const typo = await f.app.inject({
      method: 'DELETE',
      url: `/v1/tasks/${task.id}?purg=true`,
      headers: bearer(f.keys.user),
    });
    expect(typo.statusCode).toBe(400);
    expect(message(typo)).toMatch(/^querystring\/purg is not a known query parameter/);
    expect((await get(`/v1/tasks/${task.id}`)).json().state).toBe('queued');
    expect(message(await get(`/v1/tasks/${task.id}/result?wiat=5s`))).toMatch(
      /^querystring\/wiat is not a known/,
    );
    expect(message(await get('/v1/stats?scope=all'))).toMatch(/^querystring\/scope is not a known/);
    // Routes that take no query parameters refuse them too, and create nothing.
    const before = (await f.store.listTasks({ owner: 'acme' })).items.length;
    const withQuery = await f.app.inject({
      method: 'POST',
      url: '/v1/tasks?priority=5',
      headers: bearer(f.keys.user),
      payload: { target: 'echo', text: 'query, not body' },
    });
    expect(message(withQuery)).toMatch(/^querystring\/priority is not a known query parameter/);
    expect((await f.store.listTasks({ owner: 'acme' })).items).toHaveLength(before);
    expect(message(await get(`/v1/tasks/${task.id}/input?download=1`))).toMatch(/^querystring\/download/);
    const unknownField = await submit({ target: 'echo', text: 'x', priorty: 3 });
    expect(unknownField.statusCode).toBe(400);
    expect(message(unknownField)).toBe(
      'body/priorty is not a known field (the API reference at /docs lists them)',
    );
  });

  it('GET /v1/tasks/{id}, /input, /result through the life of a task', async () => {
    const [task] = (await submit({ target: 'echo', text: 'life' })).json().tasks;
    const shown = (await get(`/v1/tasks/${task.id}`)).json();
    expect(shown).toMatchObject({ id: task.id, state: 'queued', attempts: 0, target: 'echo@1.0.0' });
    expect(shown.timeline.map((e: { stage: string }) => e.stage)).toEqual(['created', 'queued']);
    const input = await get(`/v1/tasks/${task.id}/input`);
    expect(input.headers['content-type']).toBe('text/plain');
    expect(input.body).toBe('life');
    const notReady = await get(`/v1/tasks/${task.id}/result`);
    expect([notReady.statusCode, code(notReady)]).toEqual([404, 'INFERQ_RESULT_NOT_READY']);
    await finishTask(f, task.id, { result: { n: 1 } });
    expect((await get(`/v1/tasks/${task.id}/result`)).json().result).toEqual({ n: 1 });
    expect((await get(`/v1/tasks/${task.id}`)).json()).toMatchObject({
      state: 'succeeded',
      result: { n: 1 },
      attempts: 1,
    });

    const [failing] = (await submit({ target: 'echo', text: 'fails' })).json().tasks;
    await finishTask(f, failing.id, { error: { code: 'INFERQ_WORK_FAILED', message: 'boom' } });
    const failed = await get(`/v1/tasks/${failing.id}/result`);
    expect(failed.statusCode).toBe(409);
    expect(failed.json().error).toMatchObject({
      code: 'INFERQ_TASK_FAILED',
      details: { error: { code: 'INFERQ_WORK_FAILED' } },
    });
    expect(code(await get('/v1/tasks/01900000-0000-7000-8000-000000000000'))).toBe('INFERQ_TASK_NOT_FOUND');
  });

  it('DELETE cancels (queued → cancelled), refuses a final task (409), and purges with ?purge=true', async () => {
    const [task] = (await submit({ target: 'echo', text: 'cancel me' })).json().tasks;
    const del = (url: string) => f.app.inject({ method: 'DELETE', url, headers: bearer(f.keys.user) });
    expect((await del(`/v1/tasks/${task.id}`)).json()).toEqual({
      id: task.id,
      state: 'cancelled',
      purged: false,
    });
    const again = await del(`/v1/tasks/${task.id}`);
    expect([again.statusCode, code(again)]).toEqual([409, 'INFERQ_TASK_STATE_CONFLICT']);
    expect((await del(`/v1/tasks/${task.id}?purge=true`)).json()).toMatchObject({ purged: true });
    expect(await f.store.getTask(task.id)).toBeUndefined();
    expect(await f.blobs.stat(task.inputSha256)).toBeUndefined();
  });

  it('POST /v1/tasks/{id}/feedback stores the choice', async () => {
    const [task] = (await submit({ target: 'echo', text: 'fb' })).json().tasks;
    const res = await f.app.inject({
      method: 'POST',
      url: `/v1/tasks/${task.id}/feedback`,
      headers: bearer(f.keys.user),
      payload: { feedback: { selected: 'cat' } },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().feedback).toEqual([{ feedback: { selected: 'cat' }, at: expect.any(Number) }]);
  });
});
