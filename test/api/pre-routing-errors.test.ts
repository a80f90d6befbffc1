import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isErrorCode } from '../../src/errors/index.js';
import { type AppFixture, createAppFixture } from './app-fixture.js';

/**
 * Requests that break before (or while) routing, sent as the exact bytes a hostile client would
 * send: `fetch` and `app.inject` normalise `../`, refuse a NUL byte and cap nothing, so these go
 * over a raw socket to a listening server.
 */
let f: AppFixture;
let port: number;
const logLines: Array<{ level: number; msg?: string }> = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logLines.push(JSON.parse(line));
      done();
    },
  });
  f = await createAppFixture({ logger: pino({ level: 'debug' }, sink) });
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  port = (f.app.server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await f?.close();
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `bytes` to a fresh connection and reads one HTTP/1.1 response back. */
function raw(bytes: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const finish = () => {
      const text = received.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return false;
      const [statusLine, ...headerLines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? Number.NaN);
      const body = received.subarray(Buffer.byteLength(text.slice(0, split + 4), 'latin1'));
      if (Number.isFinite(length) && body.length < length) return false;
      socket.destroy();
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: body.toString('utf8') });
      return true;
    };
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      finish();
    });
    socket.on('end', () => {
      if (!finish()) reject(new Error(`connection closed after ${JSON.stringify(received.toString())}`));
    });
    // A reset after the answer was written still leaves the answer readable.
    socket.on('error', (err) => {
      if (!finish()) reject(err);
    });
    socket.write(bytes);
  });
}

const get = (target: string, extra = '') =>
  `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`;

/** Asserts the documented error shape with `code` and returns the message. */
function expectError(response: RawResponse, status: number, code: string): string {
  expect(response.status, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(response.body) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(isErrorCode(body.error.code)).toBe(true);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(10);
  return body.error.message;
}

describe('errors raised before routing answer in the documented shape', () => {
  it('refuses an un-normalised ../ path under /docs/static with 403, not a 500', async () => {
    const before = logLines.length;
    const response = await raw(get('/docs/static/../../../package.json'));
    expectError(response, 403, 'INFERQ_PATH_FORBIDDEN');
    // An anonymous client cannot fill the log with error-level stacks.
    expect(logLines.slice(before).filter((line) => line.level >= 50)).toEqual([]);
  });

  it('answers a Range past the end of a /docs file with 416 in the documented shape', async () => {
    const response = await raw(get('/docs/static/swagger-ui.css', 'Range: bytes=999999999-\r\n'));
    expectError(response, 416, 'INFERQ_RANGE_NOT_SATISFIABLE');
  });

  it('refuses bad percent-encoding in a path parameter with 400, naming the URL', async () => {
    const message = expectError(await raw(get('/v1/tasks/%zz')), 400, 'INFERQ_URL_INVALID');
    expect(message).toContain('percent-encoding');
  });

  it('refuses a NUL byte in the request line with 400', async () => {
    expectError(await raw(get('/v1/tasks/a\u0000b')), 400, 'INFERQ_URL_INVALID');
  });

  it('refuses a path id over the parameter length limit with 414', async () => {
    const message = expectError(await raw(get(`/v1/tasks/${'a'.repeat(600)}`)), 414, 'INFERQ_URL_TOO_LONG');
    expect(message).toMatch(/\d+ characters/);
  });

  it('refuses an over-long URL with 431 in the documented shape', async () => {
    expectError(await raw(get(`/v1/tasks?x=${'a'.repeat(20_000)}`)), 431, 'INFERQ_HEADERS_TOO_LARGE');
  });

  it('refuses over-long headers with 431 in the documented shape', async () => {
    const message = expectError(
      await raw(get('/v1/tasks', `X-Big: ${'b'.repeat(20_000)}\r\n`)),
      431,
      'INFERQ_HEADERS_TOO_LARGE',
    );
    expect(message).toMatch(/16 KiB|16384/);
  });

  it('refuses a body method without Content-Type (QUERY) with 400, not a 500', async () => {
    // Found by schemathesis: Fastify's FST_ERR_ROUTE_MISSING_CONTENT_TYPE was an INFERQ_INTERNAL.
    const message = expectError(
      await raw(
        'QUERY /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
      ),
      400,
      'INFERQ_REQUEST_MALFORMED',
    );
    expect(message).toContain('Content-Type');
  });

  it('refuses bytes that are not HTTP with 400 in the documented shape', async () => {
    expectError(await raw('HELLO\r\n\r\n'), 400, 'INFERQ_REQUEST_MALFORMED');
  });

  it('logs none of these at error level', () => {
    expect(logLines.filter((line) => line.level >= 50)).toEqual([]);
  });
});
