import { useRef } from 'preact/hooks';
import type { InferqClient } from '../../client/inferq-client.js';
import type { Stats } from '../../client/types.js';
import { Chart } from './chart.js';
import { formatMs } from './format.js';
import { usePoll } from './use-poll.js';

interface Sample {
  at: number;
  perSecond: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  errorRate: number;
}

const states = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
const maxSamples = 300;

/** Average achieved batch size per model, from the Prometheus histogram on /metrics. */
async function batchSizes(): Promise<Map<string, number>> {
  const text = await (await fetch('/metrics')).text();
  const sums = new Map<string, number>();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^inferq_batch_size_(sum|count)\{model="([^"]+)"\} ([\d.e+]+)$/gm)) {
    if (m[1] === 'sum') sums.set(m[2]!, Number(m[3]));
    else if (Number(m[3]) > 0) out.set(m[2]!, (sums.get(m[2]!) ?? 0) / Number(m[3]));
  }
  return out;
}

function sample(stats: Stats): Sample {
  const finished = stats.recent.reduce((n, r) => n + r.finished, 0);
  const succeeded = stats.recent.reduce((n, r) => n + r.succeeded, 0);
  const worst = (key: 'p50Ms' | 'p90Ms' | 'p99Ms') => {
    const values = stats.recent.map((r) => r[key]).filter((v): v is number => v !== null);
    return values.length === 0 ? null : Math.max(...values);
  };
  return {
    at: Date.now() / 1_000,
    perSecond: stats.recent.reduce((n, r) => n + r.perSecond, 0),
    p50: worst('p50Ms'),
    p90: worst('p90Ms'),
    p99: worst('p99Ms'),
    errorRate: finished === 0 ? 0 : (finished - succeeded) / finished,
  };
}

/** Tasks by state, throughput and latency over time, queue depth and batch size per model; live. */
export function Overview(props: { client: InferqClient; admin: boolean }) {
  const history = useRef<Sample[]>([]);
  const { data, error } = usePoll(async () => {
    const [stats, batches] = await Promise.all([
      props.client.stats({ windowSeconds: 60, all: props.admin }),
      batchSizes().catch(() => new Map<string, number>()),
    ]);
    history.current = [...history.current, sample(stats)].slice(-maxSamples);
    return { stats, batches };
  }, 2_000);
  if (data === undefined) return <p class="muted">{error ?? 'loading…'}</p>;
  const { stats, batches } = data;
  const totals = Object.fromEntries(
    states.map((s) => [s, stats.byTarget.reduce((n, t) => n + (t.counts[s] ?? 0), 0)]),
  );
  const h = history.current;
  const last = h.at(-1);
  const targets = [...new Set([...Object.keys(stats.queues), ...stats.byTarget.map((t) => t.target)])].sort();
  return (
    <section>
      {error && <p class="error">{error}</p>}
      <div class="cards">
        {states.map((s) => (
          <a class={`card state-${s}`} href={`#/tasks?state=${s}`} key={s}>
            <span class="card-value" data-testid={`count-${s}`}>
              {totals[s]}
            </span>
            <span class="card-label">{s}</span>
          </a>
        ))}
        <div class="card">
          <span class="card-value">{last ? last.perSecond.toFixed(2) : '0'}</span>
          <span class="card-label">tasks/s (1 min)</span>
        </div>
        <div class="card">
          <span class="card-value">{last ? `${(last.errorRate * 100).toFixed(1)}%` : '0%'}</span>
          <span class="card-label">error rate (1 min)</span>
        </div>
      </div>
      <div class="charts">
        <Chart
          title="Throughput (tasks/s)"
          labels={['finished/s']}
          data={[h.map((s) => s.at), h.map((s) => s.perSecond)]}
        />
        <Chart
          title="Latency, created → finished (ms)"
          labels={['p50', 'p90', 'p99']}
          unit=" ms"
          data={[h.map((s) => s.at), h.map((s) => s.p50), h.map((s) => s.p90), h.map((s) => s.p99)]}
        />
      </div>
      <h2>Queues</h2>
      <table>
        <thead>
          <tr>
            <th>target</th>
            <th>waiting</th>
            <th>delayed</th>
            <th>leased</th>
            <th>dead</th>
            <th>finished (1 min)</th>
            <th>p50</th>
            <th>p99</th>
            <th>avg batch</th>
          </tr>
        </thead>
        <tbody>
          {targets.map((target) => {
            const q = stats.queues[target];
            const r = stats.recent.find((x) => x.target === target);
            const batch = batches.get(target);
            return (
              <tr key={target}>
                <td>
                  <a href={`#/tasks?target=${encodeURIComponent(target)}`}>{target}</a>
                </td>
                <td>{q?.waiting ?? '-'}</td>
                <td>{q?.delayed ?? '-'}</td>
                <td>{q?.leased ?? '-'}</td>
                <td>{q?.dead ?? '-'}</td>
                <td>{r?.finished ?? 0}</td>
                <td>{formatMs(r?.p50Ms)}</td>
                <td>{formatMs(r?.p99Ms)}</td>
                <td>{batch === undefined ? '-' : batch.toFixed(1)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
