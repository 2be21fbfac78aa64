/** From the usage API's lines to what the chart and its tables show: every bucket of the
 * period (the API leaves out those without calls), the largest groups as series and the rest
 * summed as "other", money and axis labels. Pure functions, tested in series.test.ts. */

import type { Budget, Bucket, UsageLine, UsageReport } from "./types";

export type Metric = "cost" | "calls" | "tokens";

export interface Period {
  id: string;
  label: string;
  since: string;
  bucket: Bucket;
}

export const PERIODS: Period[] = [
  { id: "24h", label: "Last 24 hours", since: "24h", bucket: "hour" },
  { id: "7d", label: "Last 7 days", since: "7d", bucket: "day" },
  { id: "30d", label: "Last 30 days", since: "30d", bucket: "day" },
  { id: "90d", label: "Last 90 days", since: "90d", bucket: "day" },
];

export const METRICS: Record<Metric, string> = {
  cost: "Cost (USD)",
  calls: "Calls",
  tokens: "Tokens (in + out)",
};

export const OTHER = "other";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export function periodOf(id: string | null): Period {
  return PERIODS.find((p) => p.id === id) ?? (PERIODS[1] as Period);
}

/** The start of the UTC hour or day holding `ms`. */
export function floorTo(ms: number, bucket: Bucket): number {
  const step = bucket === "hour" ? HOUR : DAY;
  return Math.floor(ms / step) * step;
}

/** Every bucket from the one holding `since` to the one holding `until`, as epoch ms. */
export function bucketStarts(since: string, until: string, bucket: Bucket): number[] {
  const step = bucket === "hour" ? HOUR : DAY;
  const first = floorTo(Date.parse(since), bucket);
  const last = floorTo(Date.parse(until), bucket);
  const starts: number[] = [];
  if (!Number.isFinite(first) || !Number.isFinite(last)) return starts;
  for (let at = first; at <= last && starts.length < 10_000; at += step) starts.push(at);
  return starts;
}

export function metricOf(line: UsageLine, metric: Metric): number {
  if (metric === "calls") return line.calls;
  if (metric === "tokens") return line.tokens_in + line.tokens_out;
  const cost = Number(line.cost);
  return Number.isFinite(cost) ? cost : 0;
}

export interface Series {
  key: string;
  total: number;
  /** One value per bucket, in the order of `Chart.buckets`. */
  values: number[];
}

export interface Chart {
  buckets: number[];
  series: Series[];
  /** The tallest stack: the y axis goes at least this high. */
  peak: number;
}

/** Turn a time-series report into stacked series: the `top` largest groups by `metric` over
 * the period, the rest summed as `other` (a legend of twenty models reads as noise). */
export function buildChart(report: UsageReport, metric: Metric, now: Date = new Date(), top = 6): Chart {
  const bucket = report.bucket ?? "day";
  const buckets = bucketStarts(report.since, report.until ?? now.toISOString(), bucket);
  const index = new Map(buckets.map((at, i) => [at, i]));
  const totals = new Map<string, number>();
  for (const line of report.lines) totals.set(line.key, (totals.get(line.key) ?? 0) + metricOf(line, metric));
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = new Set(ranked.slice(0, ranked.length > top ? top - 1 : top).map(([key]) => key));
  const series = new Map<string, Series>();
  for (const line of report.lines) {
    const key = shown.has(line.key) ? line.key : OTHER;
    const at = line.bucket === null ? undefined : index.get(floorTo(Date.parse(line.bucket), bucket));
    if (at === undefined) continue;
    let found = series.get(key);
    if (!found) {
      found = { key, total: 0, values: buckets.map(() => 0) };
      series.set(key, found);
    }
    const value = metricOf(line, metric);
    found.values[at] = (found.values[at] ?? 0) + value;
    found.total += value;
  }
  const ordered = [...series.values()].sort(
    (a, b) => Number(a.key === OTHER) - Number(b.key === OTHER) || b.total - a.total || a.key.localeCompare(b.key),
  );
  const peak = Math.max(0, ...buckets.map((_, i) => ordered.reduce((sum, s) => sum + (s.values[i] ?? 0), 0)));
  return { buckets, series: ordered, peak };
}

/** The top of the y axis: 1, 2 or 5 times a power of ten, at or above `value`. */
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value * (1 - 1e-9)) return step * power;
  }
  return 10 * power;
}

/** The y axis for a tallest stack of `peak`: at most `ticks` steps of 1, 2 or 5 times a power
 * of ten (whole steps for counts), and its top. */
export function axisOf(peak: number, integer: boolean, ticks = 4): { step: number; top: number } {
  let step = niceCeiling(peak / ticks);
  if (integer) step = Math.max(1, Math.ceil(step));
  const steps = Math.max(1, Math.ceil(peak / step - 1e-9));
  return { step, top: steps * step };
}

/** "$0", "$0.000123", "$0.0412", "$12.30", "$1,204.50". */
export function formatMoney(usd: number | string): string {
  const value = typeof usd === "number" ? usd : Number(usd);
  if (!Number.isFinite(value)) return String(usd);
  if (value === 0) return "$0";
  const sign = value < 0 ? "-" : "";
  const size = Math.abs(value);
  if (size < 0.01) return `${sign}$${size.toPrecision(3).replace(/0+$/, "").replace(/\.$/, "")}`;
  return `${sign}$${new Intl.NumberFormat("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(size)}`;
}

export function formatMetric(value: number, metric: Metric): string {
  if (metric === "cost") return formatMoney(value);
  return new Intl.NumberFormat("en", { maximumFractionDigits: 0 }).format(value);
}

/** "Dec 4" for a day, "Dec 4, 13:00" for an hour: UTC, as the buckets are. */
export function bucketLabel(ms: number, bucket: Bucket): string {
  const date = new Date(ms);
  const day = new Intl.DateTimeFormat("en", { month: "short", day: "numeric", timeZone: "UTC" }).format(date);
  if (bucket === "day") return day;
  return `${day}, ${String(date.getUTCHours()).padStart(2, "0")}:00`;
}

/** What a budget has left this month: the limit less what is spent and held by calls in flight. */
export function leftOf(budget: Budget): number {
  return Math.max(0, Number(budget.monthly_usd) - Number(budget.spent) - Number(budget.reserved));
}

/** The API path of a project's (or one of its workflows') budget. */
export function budgetPath(project: string, workflow: string | null): string {
  const path = `/api/v1/llm/budgets/${encodeURIComponent(project)}`;
  return workflow ? `${path}?workflow=${encodeURIComponent(workflow)}` : path;
}

/** A monthly limit as typed: a non-negative number of dollars, or a sentence saying what is wrong. */
export function parseLimit(text: string): { value: string } | { error: string } {
  const trimmed = text.trim();
  if (!/^\d+(\.\d{1,9})?$/.test(trimmed)) {
    return { error: "Enter the monthly limit in US dollars, such as 25 or 12.50 (up to 9 decimals)." };
  }
  if (Number(trimmed) >= 1_000_000_000) return { error: "A monthly limit must be under $1,000,000,000." };
  return { value: trimmed };
}
