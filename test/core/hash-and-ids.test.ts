import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/core/backoff.js';
import { parseDuration } from '../../src/core/duration.js';
import { canonicalJson, isSha256Hex, paramsHash, sha256Hex } from '../../src/core/hash.js';
import { isId, newId } from '../../src/core/ids.js';
import { isValidQueueName } from '../../src/core/job.js';

describe('hashing', () => {
  it('sha256Hex matches node:crypto for bytes and strings', () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    expect(sha256Hex(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(isSha256Hex(sha256Hex('x'))).toBe(true);
    expect(isSha256Hex('../etc/passwd')).toBe(false);
    expect(isSha256Hex(sha256Hex('x').toUpperCase())).toBe(false);
  });

  it('canonical JSON ignores key order at every depth but not array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    expect(paramsHash({ a: 1, b: { x: 1, y: 2 } })).toBe(paramsHash({ b: { y: 2, x: 1 }, a: 1 }));
    expect(paramsHash({ a: [1, 2] })).not.toBe(paramsHash({ a: [2, 1] }));
    expect(paramsHash(undefined)).toBe(paramsHash({}));
  });
});

describe('ids', () => {
  it('are UUIDv7 and sort by creation time', async () => {
    const first = newId();
    await new Promise((r) => setTimeout(r, 2));
    const second = newId();
    expect(isId(first)).toBe(true);
    expect(first[14]).toBe('7');
    expect(second > first).toBe(true);
    const many = Array.from({ length: 1000 }, newId);
    expect(new Set(many).size).toBe(1000);
  });
});

describe('backoff', () => {
  it('grows exponentially, caps, and jitters within bounds', () => {
    const policy = { baseMs: 100, maxMs: 1_000, jitter: 0 };
    expect([1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, policy))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const jittered = { baseMs: 1_000, maxMs: 60_000, jitter: 0.5 };
    expect(backoffDelay(1, jittered, () => 0)).toBe(500);
    expect(backoffDelay(1, jittered, () => 1)).toBe(1000);
    expect(backoffDelay(3, jittered, () => 0.5)).toBe(3000);
  });
});

describe('durations and queue names', () => {
  it('parses durations', () => {
    expect(parseDuration(1500)).toBe(1500);
    expect(parseDuration('1500')).toBe(1500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration(-1)).toBeUndefined();
  });

  it('accepts plain queue names only', () => {
    expect(isValidQueueName('ocr-det@1')).toBe(true);
    expect(isValidQueueName('')).toBe(false);
    expect(isValidQueueName('a b')).toBe(false);
    expect(isValidQueueName('../x')).toBe(false);
    expect(isValidQueueName('x'.repeat(201))).toBe(false);
  });
});
