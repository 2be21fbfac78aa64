/** Paths, query keys and the live refresh shared by the workflows pages. */

import { useEffect, useRef } from "react";
import { useNavigate } from "react-router-dom";

import { useRefetchOn, useSession, type DevflowEvent } from "@devflow/ui";

const enc = encodeURIComponent;

export function projectPath(project: string): string {
  return `/api/v1/projects/${enc(project)}`;
}

export function taskPath(project: string, number: number): string {
  return `${projectPath(project)}/tasks/${number}`;
}

export function runPath(project: string, number: number): string {
  return `${projectPath(project)}/runs/${number}`;
}

/** Dashboard addresses: under /board and /runs, so that the menu marks the page's entry. */
export const pages = {
  board: (project: string) => `/board/${enc(project)}`,
  task: (project: string, number: number) => `/board/${enc(project)}/tasks/${number}`,
  runs: (project: string) => `/runs/${enc(project)}`,
  run: (project: string, number: number) => `/runs/${enc(project)}/${number}`,
};

/** Every query of a project's workflows pages starts with this key. */
export function workflowsKey(project: string): string[] {
  return ["workflows", project];
}

/** Refetch the project's workflows queries when one of its events of `prefixes` arrives
 * (another user's move, a comment, a run's progress). Events name the project by id. */
export function useWorkflowEvents(
  project: string,
  prefixes: string[],
  more: (event: DevflowEvent) => boolean = () => true,
): void {
  const { projects } = useSession();
  const id = projects.find((p) => p.name === project)?.id ?? null;
  useRefetchOn(
    [workflowsKey(project)],
    (event) =>
      (id === null || event.project_id === id) &&
      prefixes.some((prefix) => event.type.startsWith(prefix)) &&
      more(event),
    300,
  );
}

/** Follow the header's project switcher: when the user picks another project there, show that
 * project's `page` (the address names the project, so the page would not change by itself). */
export function useFollowProject(shown: string, page: (project: string) => string): void {
  const { project } = useSession();
  const navigate = useNavigate();
  const previous = useRef(project);
  useEffect(() => {
    if (project !== previous.current && project !== null && project !== shown) navigate(page(project));
    previous.current = project;
  }, [project, shown, page, navigate]);
}
