import { expect, it } from 'vitest';
import { redactUrl } from '../../src/core/redact-url.js';

it('redactUrl hides a password and leaves everything else as it was', () => {
  expect(redactUrl('postgres://app:s3cret@db.internal:5432/inferq?schema=prod')).toBe(
    'postgres://app:***@db.internal:5432/inferq?schema=prod',
  );
  expect(redactUrl('redis://:s3cret@cache:6379/2?prefix=iq')).toBe('redis://:***@cache:6379/2?prefix=iq');
  expect(redactUrl('amqp://guest:guest@127.0.0.1:5672')).toBe('amqp://guest:***@127.0.0.1:5672');
  // Nothing to hide: the string exactly as given.
  for (const url of [
    'postgres://app@db/inferq',
    'sqlite:./data/inferq.db',
    'file:./data/blobs',
    'not a url',
  ]) {
    expect(redactUrl(url)).toBe(url);
  }
});
