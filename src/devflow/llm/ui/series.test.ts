import { describe, expect, it } from "vitest";

import {
  axisOf,
  bucketLabel,
  bucketStarts,
  budgetPath,
  buildChart,
  formatMoney,
  leftOf,
  niceCeiling,
  OTHER,
  parseLimit,
} from "./series";
import type { Budget, UsageLine, UsageReport } from "./types";

function line(bucket: string, key: string, cost: string, calls = 1): UsageLine {
  return {
    key,
    bucket,
    calls,
    cache_hits: 0,
    errors: 0,
    tokens_in: 10 * calls,
    tokens_out: 5 * calls,
    cost,
    avg_latency_ms: 12,
  };
}

function report(lines: UsageLine[]): UsageReport {
  return {
    since: "2026-12-01T10:30:00+00:00",
    until: "2026-12-04T09:00:00+00:00",
    by: "model",
    bucket: "day",
    project: null,
    lines,
    total_cost: "0",
  };
}

describe("bucketStarts", () => {
  it("lists every UTC day of the period, the partial first and last included", () => {
    const days = bucketStarts("2026-12-01T10:30:00Z", "2026-12-04T09:00:00Z", "day");
    expect(days.map((d) => new Date(d).toISOString().slice(0, 10))).toEqual([
      "2026-12-01",
      "2026-12-02",
      "2026-12-03",
      "2026-12-04",
    ]);
  });

  it("lists hours", () => {
    expect(bucketStarts("2026-12-01T10:30:00Z", "2026-12-01T12:05:00Z", "hour")).toHaveLength(3);
  });
});

describe("buildChart", () => {
  it("puts each group's values in their buckets and fills the days without calls with 0", () => {
    const chart = buildChart(
      report([
        line("2026-12-01T00:00:00Z", "fake/chat", "0.5"),
        line("2026-12-03T00:00:00Z", "fake/chat", "0.25"),
        line("2026-12-03T00:00:00Z", "fake/embed", "1"),
      ]),
      "cost",
    );
    expect(chart.buckets).toHaveLength(4);
    expect(chart.series.map((s) => [s.key, s.values])).toEqual([
      ["fake/embed", [0, 0, 1, 0]],
      ["fake/chat", [0.5, 0, 0.25, 0]],
    ]);
    expect(chart.peak).toBe(1.25);
  });

  it("sums the smallest groups as other, last", () => {
    const lines = ["a", "b", "c", "d"].map((key, i) => line("2026-12-02T00:00:00Z", key, "1", i + 1));
    const chart = buildChart(report(lines), "calls", new Date(), 3);
    expect(chart.series.map((s) => [s.key, s.total])).toEqual([
      ["d", 4],
      ["c", 3],
      [OTHER, 3],
    ]);
  });

  it("counts tokens in and out", () => {
    const chart = buildChart(report([line("2026-12-02T00:00:00Z", "a", "0", 2)]), "tokens");
    expect(chart.series[0]?.total).toBe(30);
  });

  it("has no series without lines", () => {
    expect(buildChart(report([]), "cost").series).toEqual([]);
  });
});

describe("formatting", () => {
  it("shows small costs with their significant digits and larger ones in cents", () => {
    expect(formatMoney("0")).toBe("$0");
    expect(formatMoney("0.000123400")).toBe("$0.000123");
    expect(formatMoney(0.5)).toBe("$0.50");
    expect(formatMoney("1204.5")).toBe("$1,204.50");
  });

  it("rounds the axis up to 1, 2 or 5 times a power of ten", () => {
    expect(niceCeiling(0)).toBe(1);
    expect(niceCeiling(0.0013)).toBe(0.002);
    expect(niceCeiling(3)).toBe(5);
    expect(niceCeiling(50)).toBe(50);
    expect(niceCeiling(51)).toBe(100);
  });

  it("steps the axis in whole numbers for counts, and stops at the first step above the peak", () => {
    expect(axisOf(2, true)).toEqual({ step: 1, top: 2 });
    expect(axisOf(0, true)).toEqual({ step: 1, top: 1 });
    expect(axisOf(37, true)).toEqual({ step: 10, top: 40 });
    expect(axisOf(0.1, false)).toEqual({ step: 0.05, top: 0.1 });
    const dollars = axisOf(0.13, false);
    expect(dollars.step).toBe(0.05);
    expect(dollars.top).toBeCloseTo(0.15, 12);
  });

  it("labels buckets in UTC", () => {
    expect(bucketLabel(Date.parse("2026-12-04T00:00:00Z"), "day")).toBe("Dec 4");
    expect(bucketLabel(Date.parse("2026-12-04T07:00:00Z"), "hour")).toBe("Dec 4, 07:00");
  });
});

describe("budgets", () => {
  const budget: Budget = {
    project: "web",
    workflow: null,
    monthly_usd: "10",
    source: "api",
    period: "2026-12",
    spent: "6.5",
    reserved: "1.25",
    used_pct: 65,
  };

  it("leaves what is neither spent nor reserved, never below 0", () => {
    expect(leftOf(budget)).toBe(2.25);
    expect(leftOf({ ...budget, spent: "11" })).toBe(0);
  });

  it("names a workflow's budget in the query", () => {
    expect(budgetPath("web", null)).toBe("/api/v1/llm/budgets/web");
    expect(budgetPath("a b", "night ly")).toBe("/api/v1/llm/budgets/a%20b?workflow=night%20ly");
  });

  it("accepts dollars with up to 9 decimals and says why otherwise", () => {
    expect(parseLimit(" 12.50 ")).toEqual({ value: "12.50" });
    expect(parseLimit("0")).toEqual({ value: "0" });
    expect(parseLimit("-1")).toHaveProperty("error");
    expect(parseLimit("1e3")).toHaveProperty("error");
    expect(parseLimit("1000000000")).toHaveProperty("error");
  });
});
