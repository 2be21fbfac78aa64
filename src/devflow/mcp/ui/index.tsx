/** The MCP gateway's part of the dashboard: how to connect each coding agent, and a test of the
 * connection. */

import type { Contribution } from "@devflow/ui";

import { AgentSetup } from "./AgentSetup";

export const contribution: Contribution = {
  domain: "mcp",
  routes: [{ path: "/agents", Component: AgentSetup }],
  nav: [{ to: "/agents", label: "Agents", order: 800 }],
};
