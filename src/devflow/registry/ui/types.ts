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

/** What an OCI manifest holds. */
export type ManifestKind = "image" | "index" | "chart" | "artifact";

/** GET /api/v1/registry/oci/<name>/tags */
export interface OciTag {
  name: string;
  digest: string;
  media_type: string;
  kind: ManifestKind;
  artifact_type: string | null;
  /** Bytes stored: the manifest and its blobs, each counted once. */
  size: number;
  created_at: string;
  pushed_at: string;
}

/** GET /api/v1/registry/oci/<name>/images */
export interface OciImage {
  digest: string;
  media_type: string;
  kind: ManifestKind;
  artifact_type: string | null;
  size: number;
  tags: string[];
  created_at: string;
  subject: string | null;
  indexes: string[];
}

export interface Descriptor {
  digest: string;
  media_type: string | null;
  size: number | null;
  annotations: Record<string, string>;
}

export interface Platform {
  os: string | null;
  architecture: string | null;
  variant: string | null;
  os_version: string | null;
}

export interface IndexEntry extends Descriptor {
  platform: Platform | null;
  artifact_type: string | null;
}

/** GET /api/v1/registry/oci/<name>/manifests/<tag or digest> */
export interface ManifestDetail {
  repository: string;
  digest: string;
  media_type: string;
  kind: ManifestKind;
  artifact_type: string | null;
  size: number;
  manifest_size: number;
  tags: string[];
  created_at: string;
  subject: string | null;
  annotations: Record<string, string>;
  config: Descriptor | null;
  layers: Descriptor[];
  manifests: IndexEntry[];
  platform: Platform | null;
  image_created: string | null;
  chart: Chart | null;
  referrers: { digest: string; media_type: string; artifact_type: string | null; size: number; created_at: string }[];
  problem: string | null;
}
