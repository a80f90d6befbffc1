import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256Hex } from './hash.js';

/**
 * API keys look like `iq_<id>_<secret>`: the id (16 hex characters) finds the stored record in
 * one indexed lookup, the secret (32 random bytes) is what proves possession. Only the SHA-256
 * of the whole key is stored. A slow password hash would add nothing: the secret has 256 bits of
 * entropy, so there is no dictionary to attack, and a fast hash keeps every request cheap.
 */
const apiKeyPattern = /^iq_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  id: string;
  /** The full key, shown once to its owner and never stored. */
  key: string;
  hash: string;
}

export function newApiKey(): NewApiKey {
  const id = randomBytes(8).toString('hex');
  const key = `iq_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, key, hash: hashApiKey(key) };
}

/** The key id, or undefined when `key` does not have the shape of an inferq API key. */
export function apiKeyId(key: string): string | undefined {
  return apiKeyPattern.exec(key)?.[1];
}

export function hashApiKey(key: string): string {
  return sha256Hex(key);
}

/** Compares a presented key with a stored hash in constant time. */
export function apiKeyMatches(key: string, storedHash: string): boolean {
  const a = Buffer.from(hashApiKey(key), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
