import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { InferqError } from '../../src/errors/index.js';

function dir(): string {
  return mkdtempSync(path.join(tmpdir(), 'inferq-config-'));
}

function failure(fn: () => unknown): InferqError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InferqError) return err;
    throw err;
  }
  throw new Error('expected an InferqError');
}

describe('loadConfig', () => {
  it('defaults to the embedded deployment under ./data', () => {
    const cwd = dir();
    const config = loadConfig({ cwd, env: {} });
    expect(config.dataDir).toBe(path.join(cwd, 'data'));
    expect(config.store.url).toBe(`sqlite:${path.join(cwd, 'data', 'inferq.db')}`);
    // Embedded: the queue lives in the task database.
    expect(config.broker.url).toBe(`sqlite:${path.join(cwd, 'data', 'inferq.db')}`);
    expect(config.blobs.url).toBe(`file:${path.join(cwd, 'data', 'blobs')}`);
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(config.retention.ttlMs).toBe(7 * 86_400_000);
  });

  it('layers file < environment < flags, and parses durations', () => {
    const cwd = dir();
    writeFileSync(
      path.join(cwd, 'inferq.yaml'),
      'server:\n  port: 9000\n  host: 0.0.0.0\nretention:\n  ttl: 2d\nbroker:\n  leaseMs: 45s\n',
    );
    const config = loadConfig({
      cwd,
      env: { INFERQ_PORT: '9100' },
      overrides: { 'server.host': '127.0.0.2' },
    });
    expect(config.server.port).toBe(9100);
    expect(config.server.host).toBe('127.0.0.2');
    expect(config.retention.ttlMs).toBe(2 * 86_400_000);
    expect(config.broker.leaseMs).toBe(45_000);
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({ cwd: dir(), env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.server)).toBe(true);
    expect(() => {
      (config.server as { port: number }).port = 1;
    }).toThrow();
  });

  it('refuses an unknown key in the file, naming it and the allowed keys', () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'inferq.yaml'), 'server:\n  prot: 9000\n');
    const err = failure(() => loadConfig({ cwd, env: {} }));
    expect(err.code).toBe('INFERQ_CONFIG_UNKNOWN_KEY');
    expect(err.message).toContain('server.prot');
    expect(err.message).toContain('port');
    expect(err.details).toMatchObject({ key: 'server.prot' });
  });

  it('refuses an unknown top-level key', () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'inferq.yaml'), 'stroe:\n  url: x\n');
    const err = failure(() => loadConfig({ cwd, env: {} }));
    expect(err.code).toBe('INFERQ_CONFIG_UNKNOWN_KEY');
    expect(err.message).toContain('"stroe"');
  });

  it('refuses an unknown INFERQ_ environment variable by name', () => {
    const err = failure(() => loadConfig({ cwd: dir(), env: { INFERQ_STORE_URLL: 'x' } }));
    expect(err.code).toBe('INFERQ_CONFIG_UNKNOWN_KEY');
    expect(err.message).toContain('INFERQ_STORE_URLL');
  });

  it('names the key, the value and the allowed values of a bad value', () => {
    const err = failure(() => loadConfig({ cwd: dir(), env: { INFERQ_LOG_LEVEL: 'loud' } }));
    expect(err.code).toBe('INFERQ_CONFIG_INVALID');
    expect(err.message).toContain('log.level');
    expect(err.message).toContain('"loud"');
    expect(err.message).toContain('debug');
  });

  it('refuses a port out of range and a malformed duration', () => {
    expect(failure(() => loadConfig({ cwd: dir(), env: { INFERQ_PORT: '70000' } })).message).toContain(
      'server.port',
    );
    expect(
      failure(() => loadConfig({ cwd: dir(), env: { INFERQ_RETENTION_TTL: 'forever' } })).message,
    ).toContain('retention.ttl');
  });

  it('reports an unreadable or malformed file', () => {
    const cwd = dir();
    expect(failure(() => loadConfig({ cwd, env: {}, file: 'missing.yaml' })).code).toBe(
      'INFERQ_CONFIG_FILE_UNREADABLE',
    );
    writeFileSync(path.join(cwd, 'bad.yaml'), 'server: [unclosed\n');
    expect(failure(() => loadConfig({ cwd, env: {}, file: 'bad.yaml' })).code).toBe(
      'INFERQ_CONFIG_FILE_UNREADABLE',
    );
    writeFileSync(path.join(cwd, 'list.yaml'), '- a\n- b\n');
    expect(failure(() => loadConfig({ cwd, env: {}, file: 'list.yaml' })).code).toBe('INFERQ_CONFIG_INVALID');
  });
  it('refuses private webhook targets unless api.allowPrivateCallbacks is set (file or environment)', () => {
    const cwd = dir();
    expect(loadConfig({ cwd, env: {} }).api.allowPrivateCallbacks).toBe(false);
    expect(
      loadConfig({ cwd, env: { INFERQ_ALLOW_PRIVATE_CALLBACKS: 'true' } }).api.allowPrivateCallbacks,
    ).toBe(true);
    writeFileSync(path.join(cwd, 'inferq.yaml'), 'api:\n  allowPrivateCallbacks: true\n  tokenTtl: 5m\n');
    const config = loadConfig({ cwd, env: {} });
    expect(config.api.allowPrivateCallbacks).toBe(true);
    expect(config.api.tokenTtlMs).toBe(300_000);
    const err = failure(() => loadConfig({ cwd, env: { INFERQ_ALLOW_PRIVATE_CALLBACKS: 'maybe' } }));
    expect(err.code).toBe('INFERQ_CONFIG_INVALID');
  });
  it('api.maxWait caps ?wait= (default 30s)', () => {
    const cwd = dir();
    expect(loadConfig({ cwd, env: {} }).api.maxWaitMs).toBe(30_000);
    writeFileSync(path.join(cwd, 'inferq.yaml'), 'api:\n  maxWait: 2m\n');
    expect(loadConfig({ cwd, env: {} }).api.maxWaitMs).toBe(120_000);
    writeFileSync(path.join(cwd, 'inferq.yaml'), 'api:\n  maxWait: -1\n');
    expect(failure(() => loadConfig({ cwd, env: {} }))).toMatchObject({
      code: 'INFERQ_CONFIG_INVALID',
      details: { key: 'api.maxWait' },
    });
  });
});
