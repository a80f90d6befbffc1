import { createHash } from 'node:crypto';

const sha256Pattern = /^[0-9a-f]{64}$/;

/** Lower-case hex SHA-256 of bytes or a UTF-8 string. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && sha256Pattern.test(value);
}

/**
 * JSON with object keys sorted at every depth, so equal values always serialise to the
 * same bytes (`{a:1,b:2}` and `{b:2,a:1}` hash alike). `undefined` members are dropped as
 * JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

/** Hash of a params object for the result cache: order of keys does not matter. */
export function paramsHash(params: unknown): string {
  return sha256Hex(canonicalJson(params ?? {}));
}
