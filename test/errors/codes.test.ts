import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCodes, InferqError, isErrorCode, isInferqError } from '../../src/errors/index.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documented = new Map(
  [...doc.matchAll(/^\| `(INFERQ_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]),
);

describe('error code registry', () => {
  it('documents every code with its status in docs/errors.md', () => {
    for (const [code, { status }] of Object.entries(errorCodes)) {
      expect(documented.get(code), `${code} missing or wrong status in docs/errors.md`).toBe(status);
    }
  });

  it('documents no code that does not exist', () => {
    for (const code of documented.keys())
      expect(isErrorCode(code), `${code} is documented but not defined`).toBe(true);
  });

  it('uses only client or server error statuses', () => {
    for (const { status } of Object.values(errorCodes)) expect(status >= 400 && status < 600).toBe(true);
  });
});

describe('InferqError', () => {
  it('carries code, status, cause and the public body shape', () => {
    const cause = new Error('disk');
    const err = new InferqError('INFERQ_STORAGE_FULL', 'no space left', { cause, details: { path: '/x' } });
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('INFERQ_STORAGE_FULL');
    expect(err.status).toBe(507);
    expect(err.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      error: { code: 'INFERQ_STORAGE_FULL', message: 'no space left', details: { path: '/x' } },
    });
    expect(isInferqError(err, 'INFERQ_STORAGE_FULL')).toBe(true);
    expect(isInferqError(err, 'INFERQ_INTERNAL')).toBe(false);
    expect(isInferqError(new Error('x'))).toBe(false);
  });

  it('omits details when there are none', () => {
    expect(new InferqError('INFERQ_TASK_NOT_FOUND', 'no such task').toJSON()).toEqual({
      error: { code: 'INFERQ_TASK_NOT_FOUND', message: 'no such task' },
    });
  });
});
