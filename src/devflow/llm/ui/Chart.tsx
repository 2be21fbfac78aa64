/** A stacked bar chart of usage over time, drawn as SVG (no chart library: one page's chart is
 * not worth a dependency). It is an image with a title and a description for screen readers;
 * the same numbers are in the table beside it. */

import { useId } from "react";

import { axisOf, bucketLabel, formatMetric, METRICS, OTHER, type Chart, type Metric } from "./series";
import type { Bucket } from "./types";

/** Fill (bars) and background (legend swatches) of each series, readable in both themes. */
export const PALETTE = [
  { fill: "fill-indigo-500", swatch: "bg-indigo-500" },
  { fill: "fill-emerald-500", swatch: "bg-emerald-500" },
  { fill: "fill-amber-500", swatch: "bg-amber-500" },
  { fill: "fill-rose-500", swatch: "bg-rose-500" },
  { fill: "fill-sky-500", swatch: "bg-sky-500" },
  { fill: "fill-violet-500", swatch: "bg-violet-500" },
];
const OTHER_COLOUR = { fill: "fill-slate-400", swatch: "bg-slate-400" };

export function colourOf(key: string, index: number) {
  return key === OTHER ? OTHER_COLOUR : (PALETTE[index % PALETTE.length] ?? OTHER_COLOUR);
}

const WIDTH = 720;
const HEIGHT = 260;
const LEFT = 72;
const RIGHT = 8;
const TOP = 12;
const BOTTOM = 48;
const TICKS = 4;
const MAX_LABELS = 8;

export function UsageChart({
  chart,
  metric,
  bucket,
  title,
  summary,
}: {
  chart: Chart;
  metric: Metric;
  bucket: Bucket;
  title: string;
  summary: string;
}) {
  const id = useId();
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const { step, top } = axisOf(chart.peak, metric !== "cost", TICKS);
  const count = Math.max(1, chart.buckets.length);
  const slot = plotWidth / count;
  const bar = Math.max(1, slot * 0.72);
  const every = Math.ceil(count / MAX_LABELS);
  const y = (value: number) => TOP + plotHeight - (value / top) * plotHeight;
  const text = "fill-slate-700 dark:fill-slate-300";
  return (
    <figure className="space-y-2">
      <svg
        role="img"
        aria-labelledby={`${id}-title ${id}-desc`}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        className="h-auto w-full"
        preserveAspectRatio="xMidYMid meet"
      >
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-desc`}>{summary}</desc>
        {Array.from({ length: Math.round(top / step) + 1 }, (_, i) => {
          const value = step * i;
          return (
            <g key={i}>
              <line
                x1={LEFT}
                x2={WIDTH - RIGHT}
                y1={y(value)}
                y2={y(value)}
                className={i === 0 ? "stroke-slate-500" : "stroke-slate-200 dark:stroke-slate-700"}
                strokeWidth={1}
              />
              <text x={LEFT - 6} y={y(value)} dy="0.32em" textAnchor="end" fontSize={11} className={text}>
                {formatMetric(value, metric)}
              </text>
            </g>
          );
        })}
        {chart.buckets.map((at, i) => {
          let base = 0;
          const x = LEFT + i * slot + (slot - bar) / 2;
          return (
            <g key={at}>
              {chart.series.map((series, s) => {
                const value = series.values[i] ?? 0;
                if (value <= 0) return null;
                const y0 = y(base);
                base += value;
                const y1 = y(base);
                return (
                  <rect
                    key={series.key}
                    x={x}
                    y={y1}
                    width={bar}
                    height={Math.max(0.5, y0 - y1)}
                    className={colourOf(series.key, s).fill}
                  >
                    <title>{`${bucketLabel(at, bucket)} · ${series.key}: ${formatMetric(value, metric)}`}</title>
                  </rect>
                );
              })}
              {i % every === 0 ? (
                <text x={LEFT + i * slot + slot / 2} y={TOP + plotHeight + 16} textAnchor="middle" fontSize={11} className={text}>
                  {bucketLabel(at, bucket)}
                </text>
              ) : null}
            </g>
          );
        })}
        <text x={LEFT + plotWidth / 2} y={HEIGHT - 6} textAnchor="middle" fontSize={12} className={text}>
          {bucket === "hour" ? "Hour (UTC)" : "Day (UTC)"}
        </text>
        <text
          transform={`translate(14 ${TOP + plotHeight / 2}) rotate(-90)`}
          textAnchor="middle"
          fontSize={12}
          className={text}
        >
          {METRICS[metric]}
        </text>
      </svg>
      <figcaption>
        <ul aria-label="Legend" className="flex flex-wrap gap-x-4 gap-y-1 text-sm">
          {chart.series.map((series, s) => (
            <li key={series.key} className="flex items-center gap-1.5">
              <span aria-hidden="true" className={`inline-block h-3 w-3 rounded-sm ${colourOf(series.key, s).swatch}`} />
              <span className="font-mono text-xs">{series.key}</span>
              <span className="text-slate-600 dark:text-slate-400">{formatMetric(series.total, metric)}</span>
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
