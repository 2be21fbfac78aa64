/** The jobs the pages show, from GET /api/v1/jobs, refreshed by events. */

import { useQuery } from "@tanstack/react-query";

import { api } from "../lib/api";
import { useRefetchOn } from "../lib/live";
import { useSession } from "../lib/session";
import type { Job, Page } from "../lib/types";

export interface JobFilter {
  status?: string;
  task?: string;
}

/** Jobs matching `filter` in the chosen project (all projects: every job the session sees). */
export function useJobs(filter: JobFilter) {
  const { project, projects } = useSession();
  const result = useQuery({
    queryKey: ["jobs", filter],
    queryFn: () =>
      api.get<Page<Job>>("/api/v1/jobs", { status: filter.status, task: filter.task, limit: 100 }),
  });
  // Job progress moves with the domain events its work writes (sources' progress, packages).
  useRefetchOn([["jobs"]], () => true);
  const projectId = projects.find((p) => p.name === project)?.id;
  const items = (result.data?.items ?? []).filter(
    (job) => projectId === undefined || job.project_id === projectId,
  );
  return { ...result, items };
}
