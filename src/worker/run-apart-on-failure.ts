/** How {@link runApartOnFailure} treats a run that failed as a whole. */
export interface RunApartRules<R> {
  /**
   * Whether this failure may be one item's fault, so each item is worth running alone. False
   * for a failure of the run itself (timed out, cancelled, shutting down, the instance lost):
   * running the items again alone would only fail them again, or run them after nobody waits.
   */
  splits(err: unknown): boolean;
  /** An item's result when its run failed with `err`. */
  failure(err: unknown): R;
}

/**
 * One bad item never takes its batch down: runs `items` as one batch; if that run throws (the
 * model refused the batch as a whole, e.g. a JS model that throws when one input is bad),
 * runs each item alone, one after the other, so only the items that fail alone fail, each
 * with its own error. A single item, or a failure that {@link RunApartRules.splits} says is
 * the run's own, fails every item with it. `run` resolves one result per item, in order (a
 * missing one is a failure); a run of one item is tried once.
 *
 * The rule of both paths, where the model call is: the durable model handler
 * (model-handler.ts) and the fast lanes (fast-lanes.ts).
 */
export async function runApartOnFailure<T, R>(
  items: readonly T[],
  run: (batch: readonly T[]) => Promise<readonly R[]>,
  rules: RunApartRules<R>,
): Promise<R[]> {
  try {
    const results = await run(items);
    return items.map((_, k) => results[k] ?? rules.failure(noResult()));
  } catch (err) {
    if (items.length === 1 || !rules.splits(err)) return items.map(() => rules.failure(err));
    const singles: R[] = [];
    for (const item of items) {
      try {
        const [result] = await run([item]);
        singles.push(result ?? rules.failure(noResult()));
      } catch (single) {
        singles.push(rules.failure(single));
      }
    }
    return singles;
  }
}

const noResult = () => new Error('the run returned no result for this item');
