import type { InferqClient } from '../../client/inferq-client.js';
import { formatBytes, formatMs } from './format.js';
import { usePoll } from './use-poll.js';

/** `p50 / p95`. */
const pair = (p: { p50: number | null; p95: number | null }) => `${formatMs(p.p50)} / ${formatMs(p.p95)}`;

/**
 * Models and pipelines: versions, availability, input limits, batching, queue; and where each
 * model's time goes (queue wait, batch wait, compute) over the last 15 minutes.
 */
export function Models(props: { client: InferqClient }) {
  const { data, error } = usePoll(async () => {
    const [models, breakdown] = await Promise.all([
      props.client.models(),
      props.client.modelStats({ windowSeconds: 900 }),
    ]);
    return { ...models, breakdown };
  }, 5_000);
  if (data === undefined) return <p class={error ? 'error' : 'muted'}>{error ?? 'loading…'}</p>;
  return (
    <section>
      <table>
        <thead>
          <tr>
            <th>model</th>
            <th>kind</th>
            <th>available</th>
            <th>input</th>
            <th>batching</th>
            <th>instances</th>
            <th>runs on</th>
            <th>timeout</th>
            <th>queue</th>
            <th>description</th>
          </tr>
        </thead>
        <tbody>
          {data.items.map((m) => {
            const input = m.input as { kind?: string; maxBytes?: number } | undefined;
            return (
              <tr key={m.ref}>
                <td>
                  <a href={`#/tasks?target=${encodeURIComponent(m.ref)}`}>{m.ref}</a>
                </td>
                <td>
                  {m.kind}
                  {m.runtime ? ` (${m.runtime})` : ''}
                </td>
                <td>
                  <span class={`badge ${m.available ? 'state-succeeded' : 'state-failed'}`}>
                    {m.available ? 'yes' : 'no'}
                  </span>
                  {m.unavailableReason && <div class="muted">{m.unavailableReason}</div>}
                </td>
                <td>{input ? `${input.kind ?? ''} ≤ ${formatBytes(input.maxBytes ?? 0)}` : '-'}</td>
                <td>
                  {m.batching
                    ? `≤ ${m.batching.maxBatchSize} items / ${m.batching.maxDelayMs} ms${
                        m.batching.preferredBatchSizes
                          ? ` (prefers ${m.batching.preferredBatchSizes.join(', ')})`
                          : ''
                      }`
                    : '-'}
                </td>
                <td>{m.instances ?? '-'}</td>
                <td class="runs-on">{m.runsOn?.length ? m.runsOn.join(', ') : '-'}</td>
                <td>{formatMs(m.timeoutMs)}</td>
                <td>{m.queue ? `${m.queue.waiting} waiting, ${m.queue.leased} running` : '-'}</td>
                <td class="muted">{m.description}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h2>Latency breakdown (last 15 min, p50 / p95)</h2>
      <table data-testid="latency-breakdown">
        <thead>
          <tr>
            <th>model</th>
            <th>tasks</th>
            <th>queue wait</th>
            <th>batch wait</th>
            <th>compute</th>
            <th>total</th>
            <th>items per run</th>
          </tr>
        </thead>
        <tbody>
          {data.breakdown.items.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                no task run by a model worker finished in the last 15 minutes
              </td>
            </tr>
          )}
          {data.breakdown.items.map((b) => (
            <tr key={b.target}>
              <td>{b.target}</td>
              <td>{b.tasks}</td>
              <td>{pair(b.queueWaitMs)}</td>
              <td>{pair(b.batchWaitMs)}</td>
              <td>{pair(b.computeMs)}</td>
              <td>{pair(b.totalMs)}</td>
              <td>{b.batchSize === null ? '-' : b.batchSize.toFixed(1)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
