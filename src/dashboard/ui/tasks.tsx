import { useState } from 'preact/hooks';
import type { InferqClient } from '../../client/inferq-client.js';
import type { TaskFilter } from '../../client/types.js';
import { formatMs, formatTime } from './format.js';
import { navigate } from './router.js';
import { SubmitForm } from './submit-form.js';
import { usePoll } from './use-poll.js';

const states = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
const pageSize = 25;

/**
 * The task history from the store (so it survives restarts): filter by state, target and
 * request; cursor pages (cheap at any table size: the store pages by id); live on page one.
 */
export function Tasks(props: { client: InferqClient; query: URLSearchParams }) {
  const state = props.query.get('state') ?? '';
  const target = props.query.get('target') ?? '';
  const request = props.query.get('request') ?? '';
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const filter: TaskFilter & { cursor?: string } = { limit: pageSize };
  if (state) filter.state = state as TaskFilter['state'];
  if (target) filter.target = target;
  if (request) filter.requestId = request;
  if (cursor) filter.cursor = cursor;
  const { data, error } = usePoll(() => props.client.listPage(filter), cursor ? 0 : 2_000, [
    state,
    target,
    request,
    cursor,
  ]);
  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(props.query);
    if (value) next.set(key, value);
    else next.delete(key);
    setCursors([]);
    navigate(`/tasks?${next}`);
  };

  return (
    <section>
      <SubmitForm client={props.client} />
      <div class="filters">
        <select aria-label="state" value={state} onChange={(e) => setFilter('state', e.currentTarget.value)}>
          <option value="">all states</option>
          {states.map((s) => (
            <option value={s} key={s}>
              {s}
            </option>
          ))}
        </select>
        <input
          aria-label="target"
          placeholder="model, e.g. ocr-det"
          value={target}
          onChange={(e) => setFilter('target', e.currentTarget.value.trim())}
        />
        <input
          aria-label="request"
          placeholder="request id"
          value={request}
          onChange={(e) => setFilter('request', e.currentTarget.value.trim())}
        />
      </div>
      {error && <p class="error">{error}</p>}
      <table class="tasks">
        <thead>
          <tr>
            <th>task</th>
            <th>input</th>
            <th>target</th>
            <th>state</th>
            <th>tries</th>
            <th>created</th>
            <th>took</th>
            <th>error</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.length === 0 && (
            <tr>
              <td colSpan={8} class="muted">
                no tasks
              </td>
            </tr>
          )}
          {data?.items.map((t) => (
            <tr key={t.id}>
              <td class="mono">
                <a href={`#/tasks/${t.id}`}>{t.id}</a>
              </td>
              <td class="input-name" title={t.input.name ?? t.input.mediaType}>
                {t.input.name ?? <span class="muted">{t.input.mediaType}</span>}
              </td>
              <td>{t.target}</td>
              <td>
                <span class={`badge state-${t.state}`}>{t.state}</span>
              </td>
              <td>
                {t.attempts}/{t.maxAttempts}
              </td>
              <td>{formatTime(t.createdAt)}</td>
              <td>{formatMs(t.finishedAt === null ? null : t.finishedAt - t.createdAt)}</td>
              <td class="muted">{t.error?.code ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="pager">
        <button
          type="button"
          disabled={cursors.length === 0}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          ← newer
        </button>
        <span class="muted">page {cursors.length + 1}</span>
        <button
          type="button"
          disabled={!data?.nextCursor}
          onClick={() => data?.nextCursor && setCursors([...cursors, data.nextCursor])}
        >
          older →
        </button>
      </div>
    </section>
  );
}
