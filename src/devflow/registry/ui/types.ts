/** The registry API's shapes the pages read (see /docs, tag registry). */

export interface Repository {
  id: string;
  name: string;
  project: string;
  format: string;
  kind: string;
  visibility: string;
  description: string;
  created_at: string;
  url: string;
  upload_url: string;
}

export interface Package {
  repository: string;
  format: string;
  name: string;
  display_name: string;
  summary: string;
  latest: string | null;
  versions: number;
  downloads: number;
  updated_at: string;
}

export interface PackageFile {
  filename: string;
  size: number;
  sha256: string;
  url: string;
  downloads: number;
  created_at: string;
  meta: Record<string, unknown>;
}

export interface Version {
  version: string;
  summary: string;
  yanked: boolean;
  yanked_reason: string | null;
  deprecated: string | null;
  published_at: string;
  downloads: number;
  files: PackageFile[];
  dependencies: { name: string; specifier: string; kind: string }[];
}

export interface PackageDetail extends Package {
  tags: Record<string, string>;
  version_list: Version[];
}

/** GET /api/v1/registry/oci/<name>/charts */
export interface Chart {
  name: string;
  version: string;
  app_version: string | null;
  description: string;
  api_version: string | null;
  type: string | null;
  digest: string;
  tags: string[];
  created_at: string;
  problem: string | null;
}

export const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
