import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** A time-series line chart (uPlot): x in seconds since the epoch, one series per label. */
export function Chart(props: {
  title: string;
  labels: string[];
  data: [number[], ...Array<Array<number | null>>];
  unit?: string;
  testId?: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const colors = ['#2563eb', '#f59e0b', '#dc2626', '#16a34a'];
  useEffect(() => {
    if (host.current === null) return;
    // The content box: clientWidth counts the card's padding, which the plot must stay inside.
    const style = getComputedStyle(host.current);
    const padding = Number.parseFloat(style.paddingLeft) + Number.parseFloat(style.paddingRight);
    const width = Math.max(280, host.current.clientWidth - padding);
    plot.current = new uPlot(
      {
        title: props.title,
        width,
        height: 200,
        series: [
          {},
          ...props.labels.map((label, i) => ({
            label,
            stroke: colors[i % colors.length],
            width: 2,
            // A bucket between empty ones has no line to sit on: draw every value as a dot too.
            points: { show: true, size: 5 },
            value: (_u: uPlot, v: number | null) => (v === null ? '-' : `${v.toFixed(2)}${props.unit ?? ''}`),
          })),
        ],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
      },
      props.data as uPlot.AlignedData,
      host.current,
    );
    return () => plot.current?.destroy();
  }, [props.labels.join('|')]);
  useEffect(() => {
    plot.current?.setData(props.data as uPlot.AlignedData);
  }, [props.data]);
  // How many buckets hold a value, for tests and screen readers that cannot see the canvas.
  const points = props.data
    .slice(1)
    .reduce((n, series) => Math.max(n, series.filter((v) => v !== null && v !== 0).length), 0);
  return <div class="chart" ref={host} data-testid={props.testId} data-points={points} />;
}
