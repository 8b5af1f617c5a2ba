/**
 * A uPlot time-series chart for the Metrics screen (loaded lazily with it): a legend whose values carry
 * `unit`, axes, a fixed y range when given (ratios), and points drawn where a value stands alone between gaps, so a sparse
 * series (latency in the few buckets that had attempts) stays visible.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Line {
  label: string;
  values: (number | null)[];
  color: string;
}

export default function SeriesChart({
  times,
  lines,
  label,
  unit = '',
  range,
  width = 480,
  height = 200,
}: {
  times: number[];
  lines: Line[];
  label: string;
  unit?: string;
  range?: [number, number];
  width?: number;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const format = (v: number | null) => (v === null || v === undefined ? '—' : `${Number.isInteger(v) ? v : v.toFixed(2)}${unit}`);
    const plot = new uPlot(
      {
        width,
        height,
        scales: { x: { time: true }, y: range ? { range } : { range: (_u, min, max) => [0, Math.max(max, min, 1) * 1.1] } },
        axes: [
          { stroke: '#555', grid: { stroke: '#e5e7eb' } },
          { stroke: '#555', grid: { stroke: '#e5e7eb' }, size: 50 },
        ],
        series: [
          {},
          ...lines.map((l) => ({
            label: l.label,
            stroke: l.color,
            width: 2,
            value: (_u: uPlot, v: number | null) => format(v),
            points: { show: (_u: uPlot, seriesIdx: number) => isolated(lines[seriesIdx - 1]!.values), size: 6, fill: l.color },
          })),
        ],
      },
      [times, ...lines.map((l) => l.values)],
      box.current,
    );
    return () => plot.destroy();
  }, [times, lines, unit, range, width, height]);
  return <div ref={box} role="img" aria-label={label} className="chart" />;
}

/** Whether some value has no neighbour to draw a line to. */
function isolated(values: (number | null)[]): boolean {
  return values.some((v, i) => v !== null && (values[i - 1] ?? null) === null && (values[i + 1] ?? null) === null);
}
