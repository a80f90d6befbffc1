/**
 * The indexes of `items` split into rounds in which no id appears twice, in input order: a batch
 * that names one task twice (a job delivered twice into one batch) runs its set-based statements
 * once per round, so the second claim or settle of a task sees the row the first one wrote, as
 * when items ran one by one. Almost every batch is one round.
 */
export function batchRounds(items: ReadonlyArray<{ id: string }>): number[][] {
  const rounds: number[][] = [];
  const seen = new Map<string, number>();
  for (const [index, item] of items.entries()) {
    const round = seen.get(item.id) ?? 0;
    seen.set(item.id, round + 1);
    const indexes = rounds[round] ?? [];
    indexes.push(index);
    rounds[round] = indexes;
  }
  return rounds;
}
