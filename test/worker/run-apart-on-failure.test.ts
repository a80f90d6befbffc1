import { describe, expect, it } from 'vitest';
import { runApartOnFailure } from '../../src/worker/run-apart-on-failure.js';

// The rule both paths batch by (model-handler.ts, fast-lanes.ts): a batch that fails as a whole
// runs again item by item, unless the failure is the run's own.
const rules = {
  splits: (err: unknown) => (err as Error).message !== 'timed out',
  failure: (err: unknown) => `failed: ${(err as Error).message}`,
};

describe('runApartOnFailure', () => {
  it('runs a refused batch again item by item: only the bad item fails', async () => {
    const runs: string[][] = [];
    const results = await runApartOnFailure(
      ['a', 'bad', 'c'],
      async (batch) => {
        runs.push([...batch]);
        if (batch.includes('bad')) throw new Error(`cannot run ${batch.join(',')}`);
        return batch.map((item) => item.toUpperCase());
      },
      rules,
    );
    expect(results).toEqual(['A', 'failed: cannot run bad', 'C']);
    expect(runs).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });

  it("fails every item with a failure that is the run's own, and tries a single item once", async () => {
    let calls = 0;
    const timedOut = async () => {
      calls++;
      throw new Error('timed out');
    };
    expect(await runApartOnFailure(['a', 'b'], timedOut, rules)).toEqual([
      'failed: timed out',
      'failed: timed out',
    ]);
    expect(calls).toBe(1);
    expect(
      await runApartOnFailure(
        ['a'],
        async () => {
          throw new Error('no');
        },
        rules,
      ),
    ).toEqual(['failed: no']);
  });

  it('fails an item the run gave no result for', async () => {
    expect(await runApartOnFailure(['a', 'b'], async () => ['A'], rules)).toEqual([
      'A',
      'failed: the run returned no result for this item',
    ]);
  });
});
