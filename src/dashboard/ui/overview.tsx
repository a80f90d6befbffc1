import { useEffect, useState } from 'preact/hooks';
import type { InferqClient } from '../../client/inferq-client.js';
import type { HistoryBucket, StatsOverview } from '../../client/types.js';
import { Chart } from './chart.js';
import { errorText, formatMs } from './format.js';

/** The chart windows on offer, in seconds; buckets are a sixtieth of the window. */
const windows = [
  { seconds: 900, label: '15 min' },
  { seconds: 3_600, label: '1 h' },
  { seconds: 6 * 3_600, label: '6 h' },
  { seconds: 86_400, label: '24 h' },
];
/** The cards and the table count what finished in this window (the backlog is counted now). */
const recentSeconds = 300;
const finalStates = ['succeeded', 'failed', 'cancelled'] as const;

/** Replaces the buckets the stream sent (same start) and appends newer ones; keeps the window. */
function mergeBuckets(history: HistoryBucket[], latest: HistoryBucket[]): HistoryBucket[] {
  const byStart = new Map(history.map((b) => [b.start, b]));
  for (const bucket of latest) byStart.set(bucket.start, bucket);
  const merged = [...byStart.values()].sort((a, b) => a.start - b.start);
  return merged.slice(Math.max(0, merged.length - history.length));
}

/**
 * Tasks by state, throughput, latency, error rate and batch size over time, queues per model.
 * The charts start from the server's history (the task store: it survives restarts); then
 * one event stream (`/v1/stats/events`) keeps everything live — no polling.
 */
export function Overview(props: { client: InferqClient; admin: boolean }) {
  const { client, admin } = props;
  const [windowSeconds, setWindowSeconds] = useState(3_600);
  const bucketSeconds = Math.ceil(windowSeconds / 60);
  const [history, setHistory] = useState<HistoryBucket[] | undefined>(undefined);
  const [historyFinished, setHistoryFinished] = useState(0);
  const [overview, setOverview] = useState<StatsOverview | undefined>(undefined);
  const [liveEvents, setLiveEvents] = useState(0);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    const controller = new AbortController();
    setHistory(undefined);
    (async () => {
      const first = await client.statsHistory({ windowSeconds, bucketSeconds, all: admin });
      if (controller.signal.aborted) return;
      setHistory(first.buckets);
      setHistoryFinished(first.buckets.reduce((n, b) => n + b.finished, 0));
      for await (const snapshot of client.statsEvents({
        windowSeconds: recentSeconds,
        bucketSeconds,
        all: admin,
        signal: controller.signal,
      })) {
        setOverview(snapshot.overview);
        setHistory((current) => mergeBuckets(current ?? [], snapshot.history.buckets));
        setLiveEvents((n) => n + 1);
        setError(undefined);
      }
    })().catch((err) => {
      if (!controller.signal.aborted) setError(errorText(err));
    });
    return () => controller.abort();
  }, [client, admin, windowSeconds, bucketSeconds]);

  if (overview === undefined || history === undefined) {
    return <p class={error ? 'error' : 'muted'}>{error ?? 'loading…'}</p>;
  }
  const { totals } = overview;
  const targets = [
    ...new Set([...Object.keys(overview.queues), ...overview.targets.map((t) => t.target)]),
  ].sort();
  const x = history.map((b) => b.start / 1_000);
  return (
    <section data-testid="overview" data-history-finished={historyFinished} data-live-events={liveEvents}>
      {error && <p class="error">{error}</p>}
      <div class="cards">
        {(['queued', 'running'] as const).map((s) => (
          <a class={`card state-${s}`} href={`#/tasks?state=${s}`} key={s}>
            <span class="card-value" data-testid={`count-${s}`}>
              {totals[s]}
            </span>
            <span class="card-label">{s} now</span>
          </a>
        ))}
        {finalStates.map((s) => (
          <a class={`card state-${s}`} href={`#/tasks?state=${s}`} key={s}>
            <span class="card-value" data-testid={`count-${s}`}>
              {totals[s]}
            </span>
            <span class="card-label">{s} (5 min)</span>
          </a>
        ))}
        <div class="card">
          <span class="card-value">{totals.perSecond.toFixed(2)}</span>
          <span class="card-label">tasks/s (5 min)</span>
        </div>
        <div class="card">
          <span class="card-value">
            {totals.errorRate === null ? '-' : `${(totals.errorRate * 100).toFixed(1)}%`}
          </span>
          <span class="card-label">error rate (5 min)</span>
        </div>
        <div class="card" title="answered from the result cache; left out of the latency percentiles">
          <span class="card-value" data-testid="cache-hit-rate">
            {totals.hitRate === null ? '-' : `${(totals.hitRate * 100).toFixed(1)}%`}
          </span>
          <span class="card-label">cache hits (5 min)</span>
        </div>
      </div>
      <p class="toolbar">
        history:{' '}
        {windows.map((w) => (
          <button
            type="button"
            key={w.seconds}
            class={w.seconds === windowSeconds ? 'link active' : 'link'}
            onClick={() => setWindowSeconds(w.seconds)}
          >
            {w.label}
          </button>
        ))}
        <span class="muted"> · buckets of {bucketSeconds} s, from the task store</span>
      </p>
      <div class="charts">
        <Chart
          testId="chart-throughput"
          title="Throughput (finished tasks/s)"
          labels={['tasks/s']}
          data={[x, history.map((b) => b.perSecond)]}
        />
        <Chart
          testId="chart-latency"
          title="Latency, created → finished (ms)"
          labels={['p50', 'p95', 'p99']}
          unit=" ms"
          data={[x, history.map((b) => b.p50Ms), history.map((b) => b.p95Ms), history.map((b) => b.p99Ms)]}
        />
        <Chart
          testId="chart-errors"
          title="Error rate (%)"
          labels={['failed %']}
          unit=" %"
          data={[x, history.map((b) => (b.errorRate === null ? null : b.errorRate * 100))]}
        />
        <Chart
          testId="chart-batch"
          title="Achieved batch size (items per model run)"
          labels={['items/run']}
          data={[x, history.map((b) => b.batchSize)]}
        />
      </div>
      <h2>Models and queues</h2>
      <table>
        <thead>
          <tr>
            <th>target</th>
            <th>queued</th>
            <th>running</th>
            <th>waiting</th>
            <th>delayed</th>
            <th>dead</th>
            <th>finished (5 min)</th>
            <th>failed</th>
            <th>cache hits</th>
            <th>p50</th>
            <th>p99</th>
          </tr>
        </thead>
        <tbody>
          {targets.map((target) => {
            const q = overview.queues[target];
            const t = overview.targets.find((x) => x.target === target);
            return (
              <tr key={target}>
                <td>
                  <a href={`#/tasks?target=${encodeURIComponent(target)}`}>{target}</a>
                </td>
                <td>{t?.queued ?? 0}</td>
                <td>{t?.running ?? 0}</td>
                <td>{q?.waiting ?? '-'}</td>
                <td>{q?.delayed ?? '-'}</td>
                <td>{q?.dead ?? '-'}</td>
                <td>{t?.finished ?? 0}</td>
                <td>{t?.failed ?? 0}</td>
                <td>{t?.cacheHits ?? 0}</td>
                <td>{formatMs(t?.p50Ms)}</td>
                <td>{formatMs(t?.p99Ms)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
