import { Link } from "react-router-dom";

import { useContributions } from "../lib/contribution";
import { Card, Code, EmptyState, ErrorMessage, Stat } from "../lib/components";
import { formatWhen } from "../lib/format";
import { useSession } from "../lib/session";
import { useRecentActivity } from "./activity";
import { JobProgress } from "./JobRow";
import { useJobs } from "./jobs";

const RECENT = 20;

function RecentActivity() {
  const { projects, project } = useSession();
  const activity = useRecentActivity(project, RECENT);
  const projectId = projects.find((p) => p.name === project)?.id;
  const names = new Map(projects.map((p) => [p.id, p.name]));
  const shown = activity.events.filter((e) => projectId === undefined || e.project_id === projectId);
  return (
    <Card title="Recent activity">
      {activity.error ? (
        <ErrorMessage error={activity.error} retry={() => void activity.refetch()} />
      ) : null}
      {activity.isSuccess && shown.length === 0 ? (
        <p className="text-sm text-slate-500 dark:text-slate-400">
          Nothing has happened here yet. Sources indexed, packages published, projects created and
          jobs cancelled or retried appear here as they happen.
        </p>
      ) : null}
      {shown.length > 0 ? (
        <ul aria-label="Recent activity" className="space-y-1 text-sm">
          {shown.map((event) => (
            <li key={event.id} className="flex justify-between gap-2">
              <span>
                <span className="font-mono text-xs">{event.type}</span>
                {event.project_id ? (
                  <span className="ml-2 text-slate-500 dark:text-slate-400">{names.get(event.project_id)}</span>
                ) : null}
              </span>
              <span className="text-xs text-slate-500 dark:text-slate-400">{formatWhen(event.created_at)}</span>
            </li>
          ))}
        </ul>
      ) : null}
    </Card>
  );
}

function Running() {
  const jobs = useJobs({ status: "doing" });
  return (
    <Card
      title="Jobs in progress"
      action={
        <Link to="/jobs" className="text-sm underline">
          All jobs
        </Link>
      }
    >
      {jobs.error ? <ErrorMessage error={jobs.error} retry={() => void jobs.refetch()} /> : null}
      {jobs.isSuccess && jobs.items.length === 0 ? (
        <p className="text-sm text-slate-500 dark:text-slate-400">
          Nothing is running. Indexing a source (<Code>devflow knowledge add ./docs</Code>) shows its
          progress here live.
        </p>
      ) : null}
      <ul className="space-y-3">
        {jobs.items.map((job) => (
          <li key={job.id}>
            <p className="mb-1 text-sm">
              <span className="font-mono text-xs">{job.task}</span>{" "}
              <span className="text-slate-500 dark:text-slate-400">#{job.id}</span>
            </p>
            <JobProgress job={job} />
          </li>
        ))}
      </ul>
    </Card>
  );
}

export function Overview() {
  const { project } = useSession();
  const collected = useContributions();
  const running = useJobs({ status: "doing" });
  return (
    <div className="space-y-6">
      <h1 className="text-xl font-semibold">Overview{project ? `: ${project}` : ""}</h1>
      <div className="grid grid-cols-2 gap-4 lg:grid-cols-4">
        {collected.overview.map(({ id, Component }) => (
          <Component key={id} project={project} />
        ))}
        <Stat label="Jobs running" value={running.isSuccess ? running.items.length : undefined} />
      </div>
      {collected.overview.length === 0 ? (
        <EmptyState title="No domain adds a card yet">
          Domains contribute cards from <Code>src/devflow/&lt;domain&gt;/ui/index.tsx</Code>.
        </EmptyState>
      ) : null}
      <div className="grid gap-4 lg:grid-cols-2">
        <Running />
        <RecentActivity />
      </div>
    </div>
  );
}
