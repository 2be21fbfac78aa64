/** The jobs the pages show, from GET /api/v1/jobs, kept live by events: a `job.progress` event
 * moves its job's bar in place (no request); any other event, a job the page does not hold
 * yet, and the last progress of an attempt (its status changes next) refetch. */

import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";

import { api } from "../lib/api";
import { useEvents, useRefetchOn } from "../lib/live";
import { useSession } from "../lib/session";
import type { DevflowEvent, Job, JobAction, Page } from "../lib/types";

export interface JobFilter {
  status?: string;
  task?: string;
}

/** The event every job's progress sends (throttled by the server, and once when it ends). */
export const PROGRESS_EVENT = "job.progress";

const JOBS_KEY = ["jobs"] as const;

type Payload = Record<string, unknown>;

function num(value: unknown, fallback: number): number {
  return typeof value === "number" ? value : fallback;
}

function numOrNull(value: unknown, fallback: number | null): number | null {
  return typeof value === "number" || value === null ? value : fallback;
}

function textOrNull(value: unknown, fallback: string | null): string | null {
  return typeof value === "string" || value === null ? value : fallback;
}

function time(value: string | null): number {
  const parsed = value === null ? Number.NaN : Date.parse(value);
  return Number.isNaN(parsed) ? 0 : parsed;
}

/** Return `job` as a `job.progress` payload reports it; the job itself when the payload is
 * older than what the job already shows (a refetch that answered after a newer event). */
export function withProgress(job: Job, payload: Payload): Job {
  const reported = textOrNull(payload.updated_at, null);
  if (reported !== null && time(reported) < time(job.updated_at)) return job;
  return {
    ...job,
    attempts: num(payload.attempts, job.attempts),
    done: num(payload.done, job.done),
    total: numOrNull(payload.total, job.total),
    message: typeof payload.message === "string" ? payload.message : job.message,
    error: textOrNull(payload.error, job.error),
    phase: textOrNull(payload.phase, job.phase),
    unit: textOrNull(payload.unit, job.unit),
    rate: numOrNull(payload.rate, job.rate),
    eta_seconds: numOrNull(payload.eta_seconds, job.eta_seconds),
    updated_at: reported ?? job.updated_at,
  };
}

/** Return `page` with the reporting job moved; the same page when it does not hold that job. */
export function pageWithProgress(page: Page<Job> | undefined, payload: Payload): Page<Job> | undefined {
  if (!page?.items.some((job) => job.id === payload.job_id)) return page;
  return { ...page, items: page.items.map((job) => (job.id === payload.job_id ? withProgress(job, payload) : job)) };
}

function held(client: QueryClient, jobId: unknown): boolean {
  return client
    .getQueriesData<Page<Job>>({ queryKey: JOBS_KEY })
    .some(([, page]) => page?.items.some((job) => job.id === jobId) ?? false);
}

/** Whether an event calls for asking the API again (rather than moving a bar in place). */
export function needsRefetch(event: DevflowEvent, isHeld: (jobId: unknown) => boolean): boolean {
  return event.type !== PROGRESS_EVENT || !isHeld(event.payload.job_id);
}

/** The last progress of an attempt: its job's status is about to change. */
export function endsAttempt(event: DevflowEvent): boolean {
  return event.type === PROGRESS_EVENT && event.payload.final === true;
}

/** Jobs matching `filter` in the chosen project (all projects: every job the session sees). */
export function useJobs(filter: JobFilter) {
  const { project, projects } = useSession();
  const client = useQueryClient();
  const result = useQuery({
    queryKey: [...JOBS_KEY, filter],
    queryFn: () =>
      api.get<Page<Job>>("/api/v1/jobs", { status: filter.status, task: filter.task, limit: 100 }),
  });
  useEvents((event) => {
    if (event.type !== PROGRESS_EVENT) return;
    for (const [key, page] of client.getQueriesData<Page<Job>>({ queryKey: JOBS_KEY })) {
      const moved = pageWithProgress(page, event.payload);
      if (moved !== page) client.setQueryData(key, moved);
    }
  });
  useRefetchOn([[...JOBS_KEY]], (event) => needsRefetch(event, (id) => held(client, id)));
  // Its own timer: the refetch must come after this event (the worker records the job's status
  // right after sending it), not with one already waiting for an earlier event.
  useRefetchOn([[...JOBS_KEY]], endsAttempt);
  const projectId = projects.find((p) => p.name === project)?.id;
  const items = (result.data?.items ?? []).filter(
    (job) => projectId === undefined || job.project_id === projectId,
  );
  return { ...result, items };
}

/** Cancel or retry a job; the answer (the job as it now is) replaces it on every page. */
export function useJobAction(jobId: number) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (action: JobAction) => api.post<Job>(`/api/v1/jobs/${jobId}/${action}`),
    onSuccess: (job) => {
      client.setQueriesData<Page<Job>>({ queryKey: JOBS_KEY }, (page) =>
        page ? { ...page, items: page.items.map((item) => (item.id === job.id ? job : item)) } : page,
      );
      void client.invalidateQueries({ queryKey: JOBS_KEY });
    },
  });
}
