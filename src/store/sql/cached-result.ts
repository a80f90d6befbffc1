import type { ResultCacheKey } from '../../core/task.js';
import { cacheLookupWindow } from '../task-store.js';
import type { SqlDialect } from './sql-dialect.js';
import type { SqlDriver } from './sql-driver.js';

/**
 * The result cache lookup (TaskStore.getCachedResult): the tenant's newest succeeded top-level
 * task of the same target, input and params. Parameters: `@input`, `@owner`, `@kind`, `@name`,
 * `@version`, `@paramsHash`.
 *
 * The materialised CTE keeps both planners on (input_sha256, owner, id) — the tenant's tasks of
 * the input, newest first, no further than the window — where (owner, target, id) would walk
 * every task of the tenant on that model when the input was never seen. SQLite, without
 * statistics, also needs the index named (`indexedBy`).
 */
export function cachedResultSql(d: SqlDialect): string {
  return `WITH same_input AS MATERIALIZED (
      SELECT id, target_kind, target_name, target_version, params_hash, state, parent_id
      FROM tasks ${d.indexedBy('tasks_input_owner_id')} WHERE input_sha256 = @input AND owner = @owner
      ORDER BY id DESC LIMIT ${cacheLookupWindow}
    )
    SELECT t.id, r.result FROM same_input AS t JOIN task_results AS r ON r.task_id = t.id
    WHERE t.target_kind = @kind AND t.target_name = @name AND t.target_version = @version
      AND t.params_hash = @paramsHash AND t.state = 'succeeded' AND t.parent_id IS NULL
    ORDER BY t.id DESC LIMIT 1`;
}

export async function getCachedResult(
  driver: SqlDriver,
  key: ResultCacheKey,
): Promise<{ result: unknown; taskId: string } | undefined> {
  const row = await driver.one<{ id: string; result: string }>(cachedResultSql(driver.dialect), {
    input: key.inputSha256,
    owner: key.owner,
    kind: key.target.kind,
    name: key.target.name,
    version: key.target.version,
    paramsHash: key.paramsHash,
  });
  return row === undefined ? undefined : { result: JSON.parse(row.result), taskId: row.id };
}
