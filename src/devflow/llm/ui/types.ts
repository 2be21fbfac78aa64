/** The LLM API's shapes the page reads (GET /api/v1/llm/usage and /budgets; see /docs). */

export type GroupBy = "model" | "project" | "workflow" | "feature";
export type Bucket = "hour" | "day";

/** Usage summed over one group, in one bucket when the report is a time series. Money is a
 * decimal string (USD), as the API sends it. */
export interface UsageLine {
  key: string;
  bucket: string | null;
  calls: number;
  cache_hits: number;
  errors: number;
  tokens_in: number;
  tokens_out: number;
  cost: string;
  avg_latency_ms: number;
}

export interface UsageReport {
  since: string;
  until: string | null;
  by: string;
  bucket: Bucket | null;
  project: string | null;
  lines: UsageLine[];
  total_cost: string;
}

/** A monthly budget with this month's spending. */
export interface Budget {
  project: string;
  workflow: string | null;
  monthly_usd: string;
  source: "api" | "settings" | string;
  period: string;
  spent: string;
  reserved: string;
  used_pct: number;
}
