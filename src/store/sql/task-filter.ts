import { idUpperBound } from '../../core/ids.js';
import { stateList } from '../task-rows.js';
import type { TaskFilter } from '../task-store.js';
import type { SqlDialect } from './sql-dialect.js';
import type { SqlParams } from './sql-driver.js';

/**
 * The `WHERE` terms of a listing or count filter, for both databases. Values go into `params`
 * as `@f0`, `@f1`, … (`prefix` keeps several arms of one statement apart).
 *
 * One state is an equality, never a list: only then does either planner walk (owner, state, id)
 * or (state, id) in id order and stop at LIMIT, instead of collecting and sorting every match
 * (bench/postgres-explain.ts, 1M rows: 15 ms → under 1 ms). listTasks splits several states
 * into one such arm each. An empty state or id list matches nothing (every field narrows).
 */
export function filterTerms(d: SqlDialect, filter: TaskFilter, params: SqlParams, prefix = 'f'): string[] {
  const terms: string[] = [];
  const bind = (value: unknown): string => {
    const name = `${prefix}${Object.keys(params).length}`;
    params[name] = value;
    return `@${name}`;
  };
  const bindList = (column: string, values: readonly unknown[]): string => {
    const name = `${prefix}${Object.keys(params).length}`;
    Object.assign(params, d.listParam(name, values));
    return d.inList(column, name);
  };
  if (filter.owner !== undefined) terms.push(`owner = ${bind(filter.owner)}`);
  if (filter.requestId !== undefined) terms.push(`request_id = ${bind(filter.requestId)}`);
  if (filter.inputSha256 !== undefined) terms.push(`input_sha256 = ${bind(filter.inputSha256)}`);
  if (filter.target !== undefined) {
    // Model and pipeline names cannot contain '@': the first '@' splits name from version.
    const at = filter.target.indexOf('@');
    if (at < 0) terms.push(`target_name = ${bind(filter.target)}`);
    else {
      terms.push(`target_name = ${bind(filter.target.slice(0, at))}`);
      terms.push(`target_version = ${bind(filter.target.slice(at + 1))}`);
    }
  }
  const states = stateList(filter.state);
  if (states !== undefined) {
    if (states.length === 0) terms.push('1 = 0');
    else if (states.length === 1) terms.push(`state = ${bind(states[0])}`);
    else terms.push(bindList('state', states));
  }
  if (filter.createdFrom !== undefined) terms.push(`created_at >= ${bind(filter.createdFrom)}`);
  if (filter.createdTo !== undefined) {
    // The id bound only narrows the walk (see idUpperBound); the time term decides.
    terms.push(`created_at < ${bind(filter.createdTo)}`, `id < ${bind(idUpperBound(filter.createdTo))}`);
  }
  if (filter.topLevel === true) terms.push('parent_id IS NULL');
  if (filter.ids !== undefined) terms.push(filter.ids.length === 0 ? '1 = 0' : bindList('id', filter.ids));
  return terms;
}

export function where(terms: readonly string[]): string {
  return terms.length === 0 ? '' : `WHERE ${terms.join(' AND ')}`;
}
