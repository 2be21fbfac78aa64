/** The package registry's part of the dashboard (its pages come next; the overview's count now). */

import { useQuery } from "@tanstack/react-query";

import { api, Code, ErrorMessage, Stat, useRefetchOn, type Contribution, type Page } from "@devflow/ui";

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

export const contribution: Contribution = {
  domain: "registry",
  overview: [{ id: "registry-packages", order: 200, Component: PackagesCard }],
};
