import { expect } from 'vitest';
import type { IdempotencyKeys } from '../../src/store/idempotency-keys.js';
import { type ContractOptions, describeContract, type StoreFactory } from './task-store-fixtures.js';

/**
 * The behaviour every `IdempotencyKeys` adapter must have: a key per owner, claimed once,
 * released on a failed request.
 */
export function runIdempotencyKeysContract(
  name: string,
  factory: StoreFactory<IdempotencyKeys>,
  options: ContractOptions = {},
): void {
  describeContract(`IdempotencyKeys contract: ${name}`, factory, options, ({ store, section, test }) => {
    section('idempotency keys', () => {
      test('the first claim wins; a second returns the existing record; release frees the key', async () => {
        const record = { owner: 'alice', key: 'k1', fingerprint: 'f1', requestId: 'r1', createdAt: 1 };
        expect(await store.claimIdempotencyKey(record)).toEqual({ claimed: true });
        const again = await store.claimIdempotencyKey({ ...record, fingerprint: 'f2', requestId: 'r2' });
        expect(again).toEqual({ claimed: false, existing: record });
        // Keys are per owner: another tenant may use the same key.
        expect(await store.claimIdempotencyKey({ ...record, owner: 'bob' })).toEqual({ claimed: true });
        await store.releaseIdempotencyKey('alice', 'k1');
        expect(await store.claimIdempotencyKey({ ...record, requestId: 'r3' })).toEqual({ claimed: true });
      });
    });
  });
}
