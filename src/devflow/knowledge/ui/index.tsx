/** The knowledge hub's part of the dashboard: its pages (sources, add, search, a document, ask)
 * and the overview's counts. Everything crawled or uploaded is untrusted: shown as text, or as
 * sanitized Markdown (the shell's `Markdown`). */

import { Code, ErrorMessage, Stat, type Contribution } from "@devflow/ui";

import { AddSource } from "./AddSource";
import { Ask } from "./Ask";
import { DocumentView } from "./DocumentView";
import { useSources } from "./parts";
import { Search } from "./Search";
import { Sources } from "./Sources";

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
  routes: [
    { path: "/knowledge", Component: Sources },
    { path: "/knowledge/add", Component: AddSource },
    { path: "/knowledge/search", Component: Search },
    { path: "/knowledge/ask", Component: Ask },
    { path: "/knowledge/documents/:id", Component: DocumentView },
  ],
  nav: [{ to: "/knowledge", label: "Knowledge", order: 100 }],
  overview: [
    { id: "knowledge-sources", order: 100, Component: SourcesCard },
    { id: "knowledge-documents", order: 110, Component: DocumentsCard },
  ],
};
