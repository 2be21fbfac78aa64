/** Identity's part of the dashboard: projects and their members, and API tokens (created with
 * scopes, project and expiry; the secret shown once and kept in no store). */

import type { Contribution } from "@devflow/ui";

import { Projects, ProjectView } from "./Projects";
import { Tokens } from "./Tokens";

export const contribution: Contribution = {
  domain: "identity",
  routes: [
    { path: "/projects", Component: Projects },
    { path: "/projects/:name", Component: ProjectView },
    { path: "/tokens", Component: Tokens },
  ],
  nav: [
    { to: "/projects", label: "Projects", order: 700 },
    { to: "/tokens", label: "Tokens", order: 710 },
  ],
};
