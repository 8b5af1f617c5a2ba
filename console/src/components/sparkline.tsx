/** A small uPlot line chart; loaded lazily with the screens that show one. */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  values: (number | null)[];
  color: string;
}

export default function Chart({
  times,
  series,
  height = 60,
  width = 320,
  label,
  axes = false,
}: {
  times: number[];
  series: Series[];
  height?: number;
  width?: number;
  label: string;
  axes?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const plot = new uPlot(
      {
        width,
        height,
        legend: { show: axes },
        cursor: { show: axes },
        scales: { x: { time: true } },
        axes: axes ? [{ stroke: '#555' }, { stroke: '#555' }] : [{ show: false }, { show: false }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: times.length < 3 } }))],
      },
      [times, ...series.map((s) => s.values)],
      box.current,
    );
    return () => plot.destroy();
  }, [times, series, height, width, axes]);
  return <div ref={box} role="img" aria-label={label} className="chart" />;
}
