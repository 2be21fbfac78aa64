/** The LLM gateway's part of the dashboard: usage and cost over time per project, workflow or
 * model (a chart drawn in SVG, its numbers as tables), and monthly budgets with what is left. */

import { useRefetchOn, type Contribution, type DevflowEvent } from "@devflow/ui";

import { Budgets } from "./Budgets";
import { Usage } from "./Usage";

/** Budgets announce every change and threshold (`llm.budget.set`, `.deleted`, `.threshold`,
 * `.stopped`); a threshold also means new spending, so usage is asked again too. */
export function isBudgetEvent(event: DevflowEvent): boolean {
  return event.type.startsWith("llm.budget.");
}

export function LLM() {
  useRefetchOn([["llm"]], isBudgetEvent);
  return (
    <div className="space-y-6">
      <h1 className="text-xl font-semibold">LLM usage and budgets</h1>
      <Usage />
      <Budgets />
    </div>
  );
}

export const contribution: Contribution = {
  domain: "llm",
  routes: [{ path: "/llm", Component: LLM }],
  nav: [{ to: "/llm", label: "LLM", order: 600 }],
};
