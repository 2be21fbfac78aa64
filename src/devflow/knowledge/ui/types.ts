/** The knowledge API's shapes the pages read (src/devflow/knowledge/schemas.py; /docs). */

export interface Source {
  id: string;
  project_id: string;
  name: string;
  kind: string;
  location: string;
  settings: Record<string, unknown>;
  status: string;
  embed_model: string | null;
  discovered: number;
  fetched: number;
  chunked: number;
  embedded: number;
  failed: number;
  document_count: number;
  chunk_count: number;
  job_id: number | null;
  last_error: string | null;
  last_refresh_at: string | null;
  created_at: string;
}

export interface DocumentContent {
  id: string;
  source_id: string;
  uri: string;
  title: string;
  content_type: string;
  language: string | null;
  start: number;
  end: number;
  total_chars: number;
  content: string;
}

export type SearchMode = "hybrid" | "keyword" | "semantic";
export type SearchGroup = "documents" | "passages";

export interface SearchPassage {
  chunk_id: string;
  heading_path: string[];
  snippet: string;
  text: string;
  /** Where the passage lies in its document's content: code points (Python's string indexes),
   * see `utf16Range`. */
  start: number;
  end: number;
  score: number;
}

export interface SearchHit extends SearchPassage {
  document_id: string;
  source_id: string;
  title: string;
  uri: string;
  content_type: string;
  language: string | null;
  passages: SearchPassage[];
}

export interface SearchResults {
  query: string;
  mode: SearchMode;
  group: SearchGroup;
  hits: SearchHit[];
  notices: string[];
}

export interface Citation {
  number: number;
  chunk_id: string;
  document_id: string;
  title: string;
  uri: string;
  heading_path: string[];
  start: number;
  end: number;
  chunk_ids: string[];
}

export interface UploadOutcome {
  filename: string;
  status: string;
  document_id: string | null;
  chunks: number;
  error: string | null;
}
