/** Usage and cost over time: the period, the grouping and the measure are in the URL (a view
 * can be shared); the chart, its numbers as a table, and totals per group. */

import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router-dom";

import { api, Code, EmptyState, ErrorMessage, SECONDARY, useSession } from "@devflow/ui";

import { UsageChart } from "./Chart";
import {
  bucketLabel,
  buildChart,
  formatMetric,
  formatMoney,
  METRICS,
  periodOf,
  PERIODS,
  type Chart,
  type Metric,
  type Period,
} from "./series";
import type { GroupBy, UsageLine, UsageReport } from "./types";

const GROUPS: Record<GroupBy, string> = {
  model: "Model",
  project: "Project",
  workflow: "Workflow",
  feature: "Feature",
};

const SELECT =
  "rounded border border-slate-300 bg-white px-1 py-0.5 dark:border-slate-700 dark:bg-slate-900 focus:outline-none focus:ring-2 focus:ring-indigo-500";

function pick<T extends string>(value: string | null, choices: Record<T, string>, fallback: T): T {
  return value !== null && value in choices ? (value as T) : fallback;
}

export const usageKey = (project: string | null, period: Period, by: GroupBy) =>
  ["llm", "usage", project, period.id, by] as const;

interface Total {
  key: string;
  calls: number;
  cacheHits: number;
  errors: number;
  tokensIn: number;
  tokensOut: number;
  cost: number;
  latency: number;
}

/** Each group's sums over the whole period, dearest first. */
function totals(lines: UsageLine[]): Total[] {
  const found = new Map<string, Total>();
  for (const line of lines) {
    const total = found.get(line.key) ?? {
      key: line.key,
      calls: 0,
      cacheHits: 0,
      errors: 0,
      tokensIn: 0,
      tokensOut: 0,
      cost: 0,
      latency: 0,
    };
    total.latency = (total.latency * total.calls + line.avg_latency_ms * line.calls) / Math.max(1, total.calls + line.calls);
    total.calls += line.calls;
    total.cacheHits += line.cache_hits;
    total.errors += line.errors;
    total.tokensIn += line.tokens_in;
    total.tokensOut += line.tokens_out;
    total.cost += Number(line.cost) || 0;
    found.set(line.key, total);
  }
  return [...found.values()].sort((a, b) => b.cost - a.cost || b.calls - a.calls || a.key.localeCompare(b.key));
}

const TH = "py-1 pr-3 font-medium";
const NUM = "py-1 pr-3 text-right tabular-nums";

function TotalsTable({ rows, group }: { rows: Total[]; group: string }) {
  const count = (n: number) => formatMetric(n, "calls");
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-left text-sm">
        <caption className="mb-1 text-left text-sm font-semibold">Totals by {group.toLowerCase()}</caption>
        <thead className="text-xs uppercase text-slate-600 dark:text-slate-400">
          <tr>
            <th scope="col" className={TH}>{group}</th>
            <th scope="col" className={`${TH} text-right`}>Calls</th>
            <th scope="col" className={`${TH} text-right`}>Cache hits</th>
            <th scope="col" className={`${TH} text-right`}>Errors</th>
            <th scope="col" className={`${TH} text-right`}>Tokens in</th>
            <th scope="col" className={`${TH} text-right`}>Tokens out</th>
            <th scope="col" className={`${TH} text-right`}>Avg latency</th>
            <th scope="col" className={`${TH} text-right`}>Cost</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
          {rows.map((row) => (
            <tr key={row.key}>
              <th scope="row" className="py-1 pr-3 font-mono text-xs font-normal">{row.key}</th>
              <td className={NUM}>{count(row.calls)}</td>
              <td className={NUM}>{count(row.cacheHits)}</td>
              <td className={NUM}>{count(row.errors)}</td>
              <td className={NUM}>{count(row.tokensIn)}</td>
              <td className={NUM}>{count(row.tokensOut)}</td>
              <td className={NUM}>{Math.round(row.latency)} ms</td>
              <td className={NUM}>{formatMoney(row.cost)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The chart's numbers, bucket by bucket: its text alternative, and what keyboards reach. */
function ChartTable({ chart, metric, period }: { chart: Chart; metric: Metric; period: Period }) {
  const unit = period.bucket === "hour" ? "Hour (UTC)" : "Day (UTC)";
  return (
    <details className="text-sm">
      <summary className="cursor-pointer rounded text-indigo-700 underline focus:outline-none focus:ring-2 focus:ring-indigo-500 dark:text-indigo-300">
        Show the chart&apos;s numbers as a table
      </summary>
      <div className="mt-2 overflow-x-auto">
        <table className="w-full text-left">
          <caption className="sr-only">
            {METRICS[metric]} per {period.bucket}, {period.label.toLowerCase()}
          </caption>
          <thead className="text-xs uppercase text-slate-600 dark:text-slate-400">
            <tr>
              <th scope="col" className={TH}>{unit}</th>
              {chart.series.map((s) => (
                <th key={s.key} scope="col" className={`${TH} text-right font-mono normal-case`}>{s.key}</th>
              ))}
              <th scope="col" className={`${TH} text-right`}>Total</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
            {chart.buckets.map((at, i) => (
              <tr key={at}>
                <th scope="row" className="py-1 pr-3 font-normal">{bucketLabel(at, period.bucket)}</th>
                {chart.series.map((s) => (
                  <td key={s.key} className={NUM}>{formatMetric(s.values[i] ?? 0, metric)}</td>
                ))}
                <td className={NUM}>
                  {formatMetric(chart.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0), metric)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

function describe(chart: Chart, metric: Metric, group: string, period: Period): string {
  const total = chart.series.reduce((sum, s) => sum + s.total, 0);
  const parts = chart.series.map((s) => `${s.key} ${formatMetric(s.total, metric)}`);
  return `Stacked bars, one per ${period.bucket}, ${period.label.toLowerCase()}: ${METRICS[metric].toLowerCase()} by ${group.toLowerCase()}, ${formatMetric(total, metric)} in all. ${parts.join("; ")}.`;
}

export function Usage() {
  const { project } = useSession();
  const [params, setParams] = useSearchParams();
  const period = periodOf(params.get("period"));
  const by = pick<GroupBy>(params.get("by"), GROUPS, "model");
  const metric = pick<Metric>(params.get("metric"), METRICS, "cost");
  const usage = useQuery({
    queryKey: usageKey(project, period, by),
    queryFn: ({ signal }) =>
      api.get<UsageReport>("/api/v1/llm/usage", { since: period.since, bucket: period.bucket, by, project }, signal),
  });

  function update(key: string, value: string): void {
    const next = new URLSearchParams(params);
    next.set(key, value);
    setParams(next, { replace: true });
  }

  const report = usage.data;
  const chart = report ? buildChart(report, metric) : null;
  const rows = report ? totals(report.lines) : [];
  const calls = rows.reduce((sum, r) => sum + r.calls, 0);
  const where = project ? `project ${project}` : "every project you can see";
  return (
    <section aria-labelledby="llm-usage" className="space-y-3 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="llm-usage" className="text-lg font-semibold">
          Usage and cost
        </h2>
        <p className="text-sm text-slate-600 dark:text-slate-400">In {where} (the project switcher above changes it)</p>
      </div>
      <form className="flex flex-wrap items-center gap-4 text-sm" onSubmit={(event) => event.preventDefault()}>
        <label>
          <span className="mr-1">Period</span>
          <select className={SELECT} value={period.id} onChange={(e) => update("period", e.target.value)}>
            {PERIODS.map((p) => (
              <option key={p.id} value={p.id}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span className="mr-1">Group by</span>
          <select className={SELECT} value={by} onChange={(e) => update("by", e.target.value)}>
            {Object.entries(GROUPS).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span className="mr-1">Show</span>
          <select className={SELECT} value={metric} onChange={(e) => update("metric", e.target.value)}>
            {Object.entries(METRICS).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        {/* Usage rows announce no event (one per model call would flood the stream): ask again. */}
        <button type="button" className={SECONDARY} disabled={usage.isFetching} onClick={() => void usage.refetch()}>
          {usage.isFetching ? "Refreshing…" : "Refresh"}
        </button>
      </form>
      {usage.error ? <ErrorMessage error={usage.error} retry={() => void usage.refetch()} /> : null}
      {usage.isPending ? <p className="text-sm text-slate-600 dark:text-slate-400">Loading usage…</p> : null}
      {report && report.lines.length === 0 ? (
        <EmptyState title={`No LLM calls in the ${period.label.toLowerCase()}`}>
          Calls made through DevFlow (answers from the knowledge hub, <Code>devflow llm ping</Code>) appear here with their
          cost. Point DevFlow at a provider with <Code>DEVFLOW_LLM__PROVIDERS__AOSENTRY__API_KEY</Code>, or try it offline
          with <Code>devflow llm fake-server</Code>; then pick a longer period, or another project.
        </EmptyState>
      ) : null}
      {report && chart && report.lines.length > 0 ? (
        <>
          <p className="text-sm">
            <strong>{formatMoney(report.total_cost)}</strong> over {formatMetric(calls, "calls")} calls,{" "}
            {period.label.toLowerCase()}.
          </p>
          <UsageChart
            chart={chart}
            metric={metric}
            bucket={period.bucket}
            title={`${METRICS[metric]} per ${period.bucket} by ${GROUPS[by].toLowerCase()}, ${period.label.toLowerCase()}`}
            summary={describe(chart, metric, GROUPS[by], period)}
          />
          <ChartTable chart={chart} metric={metric} period={period} />
          <TotalsTable rows={rows} group={GROUPS[by]} />
        </>
      ) : null}
    </section>
  );
}
