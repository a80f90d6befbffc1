import type { InferqClient } from '../../client/inferq-client.js';
import { formatBytes, formatMs } from './format.js';
import { usePoll } from './use-poll.js';

/** Models and pipelines: versions, availability, input limits, batching, queue. */
export function Models(props: { client: InferqClient }) {
  const { data, error } = usePoll(() => props.client.models(), 5_000);
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
                <td>{formatMs(m.timeoutMs)}</td>
                <td>{m.queue ? `${m.queue.waiting} waiting, ${m.queue.leased} running` : '-'}</td>
                <td class="muted">{m.description}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
