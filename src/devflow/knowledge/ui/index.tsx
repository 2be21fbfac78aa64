/** The knowledge hub's part of the dashboard (its pages come next; the overview's counts now). */

import { useQuery } from "@tanstack/react-query";

import { api, Code, ErrorMessage, Stat, useRefetchOn, type Contribution, type Page } from "@devflow/ui";

interface Source {
  id: string;
  status: string;
  document_count: number;
}

function useSources(project: string | null) {
  const sources = useQuery({
    queryKey: ["knowledge", "sources", project],
    queryFn: () => api.get<Page<Source>>("/api/v1/knowledge/sources", { project }),
  });
  useRefetchOn([["knowledge", "sources"]], (event) => event.type.startsWith("knowledge."));
  return sources;
}

function SourcesCard({ project }: { project: string | null }) {
  const sources = useSources(project);
  if (sources.error) return <ErrorMessage error={sources.error} />;
  return (
    <Stat
      label="Knowledge sources"
      value={sources.data?.total}
      empty={
        <>
          Add one: <Code>devflow knowledge add ./docs</Code>
        </>
      }
    />
  );
}

function DocumentsCard({ project }: { project: string | null }) {
  const sources = useSources(project);
  if (sources.error) return <ErrorMessage error={sources.error} />;
  const documents = sources.data?.items.reduce((sum, s) => sum + s.document_count, 0);
  return (
    <Stat
      label="Documents"
      value={documents}
      empty="Documents appear as sources are indexed."
    />
  );
}

export const contribution: Contribution = {
  domain: "knowledge",
  overview: [
    { id: "knowledge-sources", order: 100, Component: SourcesCard },
    { id: "knowledge-documents", order: 110, Component: DocumentsCard },
  ],
};
