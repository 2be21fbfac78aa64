/** The package registry's part of the dashboard: repositories per format, a repository (its
 * snippets, packages, or OCI tags, manifests and Helm charts), a package (versions, files, yank,
 * delete), an OCI manifest, and the overview's count. Package metadata is untrusted and shown as
 * text. */

import { useQuery } from "@tanstack/react-query";

import { useParams } from "react-router-dom";

import { api, Code, ErrorMessage, Stat, useRefetchOn, type Contribution, type Page } from "@devflow/ui";

import { ManifestView } from "./Oci";
import { PackageView } from "./PackageView";
import { Repositories } from "./Repositories";
import { RepositoryView } from "./RepositoryView";
import { splitRegistryPath } from "./routes";

interface Repository {
  name: string;
  project: string;
}

interface Stats {
  repositories: { repository: string; packages: number }[];
}

function PackagesCard({ project }: { project: string | null }) {
  const stats = useQuery({
    queryKey: ["registry", "stats"],
    queryFn: () => api.get<Stats>("/api/v1/registry/stats"),
  });
  const repositories = useQuery({
    queryKey: ["registry", "repositories"],
    queryFn: () => api.get<Page<Repository>>("/api/v1/registry/repositories"),
    enabled: project !== null,
  });
  useRefetchOn([["registry"]], (event) => event.type.startsWith("registry."));
  const error = stats.error ?? repositories.error;
  if (error) return <ErrorMessage error={error} />;
  const inProject = new Set(
    repositories.data?.items.filter((r) => r.project === project).map((r) => r.name),
  );
  const packages = stats.data?.repositories
    .filter((r) => project === null || inProject.has(r.repository))
    .reduce((sum, r) => sum + r.packages, 0);
  const waiting = project !== null && !repositories.data;
  return (
    <Stat
      label="Packages"
      value={waiting ? undefined : packages}
      empty={
        <>
          Create a repository: <Code>devflow registry create py --format pypi</Code>
        </>
      }
    />
  );
}

/** `/registry/repositories/<name…>[/-/packages/<package> | /-/manifests/<tag or digest>]`: OCI
 * names hold '/', so one splat route reads them all. */
function RegistryRoute() {
  const target = splitRegistryPath(useParams()["*"] ?? "");
  if (target.manifest !== null) {
    return <ManifestView key={`${target.repository}@${target.manifest}`} repository={target.repository} reference={target.manifest} />;
  }
  if (target.pkg !== null) return <PackageView key={`${target.repository}/${target.pkg}`} repository={target.repository} name={target.pkg} />;
  return <RepositoryView key={target.repository} name={target.repository} />;
}

export const contribution: Contribution = {
  domain: "registry",
  routes: [
    { path: "/registry", Component: Repositories },
    { path: "/registry/repositories/*", Component: RegistryRoute },
  ],
  nav: [{ to: "/registry", label: "Registry", order: 200 }],
  overview: [{ id: "registry-packages", order: 200, Component: PackagesCard }],
};
