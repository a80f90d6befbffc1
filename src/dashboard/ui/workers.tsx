import type { InferqClient } from '../../client/inferq-client.js';
import { formatMs, formatTime } from './format.js';
import { usePoll } from './use-poll.js';

/** Every worker from the registry; stale ones (no recent heartbeat) marked. */
export function Workers(props: { client: InferqClient }) {
  const { data, error } = usePoll(() => props.client.workers(), 3_000);
  if (data === undefined) return <p class={error ? 'error' : 'muted'}>{error ?? 'loading…'}</p>;
  if (!data.registry) return <p class="muted">This API host has no worker registry to read.</p>;
  return (
    <section>
      {error && <p class="error">{error}</p>}
      <table>
        <thead>
          <tr>
            <th>worker</th>
            <th>host / pid</th>
            <th>state</th>
            <th>models</th>
            <th>in flight</th>
            <th>heartbeat</th>
            <th>version</th>
            <th>started</th>
          </tr>
        </thead>
        <tbody>
          {data.items.length === 0 && (
            <tr>
              <td colSpan={8} class="muted">
                no workers
              </td>
            </tr>
          )}
          {data.items.map((w) => (
            <tr key={w.id} class={w.stale ? 'stale' : ''}>
              <td class="mono">{w.id}</td>
              <td>
                {w.host} / {w.pid}
              </td>
              <td>
                <span class={`badge ${w.stale ? 'state-failed' : 'state-succeeded'}`}>
                  {w.stale ? 'stale' : w.state}
                </span>
              </td>
              <td>
                {w.models.join(', ')}
                {w.unavailable && Object.keys(w.unavailable).length > 0 && (
                  <div class="muted">unavailable: {Object.keys(w.unavailable).join(', ')}</div>
                )}
              </td>
              <td>{w.inFlight}</td>
              <td>{formatMs(w.heartbeatAgeMs)} ago</td>
              <td>{w.version}</td>
              <td>{formatTime(w.startedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
