/** Uploading files or a folder from the browser, the way `devflow knowledge add ./folder` does.
 *
 * Uploads go in requests of at most 500 files and about 8 MiB (the server parses at most 1,000
 * files from one form, and a request's body has a limit); a file larger than that goes alone.
 * An add that fails while uploading removes the source it created: an add happens whole or not
 * at all. Hidden files and folders (`.git`, `.env`) are left out, as the CLI leaves them out. */

import type { ApiClient } from "@devflow/ui";

import type { Source, UploadOutcome } from "./types";

export const BATCH_FILES = 500;
export const BATCH_BYTES = 8 * 1024 * 1024;

/** What the batching needs of a browser `File`. */
export interface Upload {
  name: string;
  size: number;
  blob: Blob;
}

/** The name a picked file is uploaded under: its path inside the chosen folder (the folder's
 * own name dropped, as the CLI names files relative to the folder), or its file name. Null for
 * a hidden file or one inside a hidden folder. */
export function uploadName(file: { name: string; webkitRelativePath?: string }): string | null {
  const relative = file.webkitRelativePath ?? "";
  const parts = relative ? relative.split("/").slice(1) : [file.name];
  if (parts.length === 0 || parts.some((part) => part.startsWith(".") || part === "")) return null;
  return parts.join("/");
}

/** The folder a folder pick came from (its first path segment), or null for loose files. */
export function pickedFolder(files: { webkitRelativePath?: string }[]): string | null {
  const first = files[0]?.webkitRelativePath ?? "";
  return first.includes("/") ? (first.split("/")[0] ?? null) : null;
}

/** The files of a pick, named for upload, hidden ones left out, in name order. */
export function toUploads(files: File[]): Upload[] {
  const uploads: Upload[] = [];
  for (const file of files) {
    const name = uploadName(file);
    if (name !== null) uploads.push({ name, size: file.size, blob: file });
  }
  return uploads.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Split uploads into requests of at most `maxFiles` files and `maxBytes` bytes (a file larger
 * than `maxBytes` alone in its request); the order is kept. */
export function batches<T extends { size: number }>(
  files: T[],
  maxFiles = BATCH_FILES,
  maxBytes = BATCH_BYTES,
): T[][] {
  const out: T[][] = [];
  let batch: T[] = [];
  let size = 0;
  for (const file of files) {
    if (batch.length > 0 && (size + file.size > maxBytes || batch.length >= maxFiles)) {
      out.push(batch);
      batch = [];
      size = 0;
    }
    batch.push(file);
    size += file.size;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

export interface UploadAdd {
  name: string;
  project: string;
}

export interface Uploaded {
  source: Source;
  uploaded: UploadOutcome[];
}

/** Create an upload source and send `files` into it, calling `onProgress(sent, total)` after
 * each request. When an upload fails the source is deleted again and the error rethrown, its
 * message saying whether the removal worked. */
export async function addUploadSource(
  client: ApiClient,
  add: UploadAdd,
  files: Upload[],
  onProgress: (sent: number, total: number) => void = () => undefined,
): Promise<Uploaded> {
  if (files.length === 0) {
    throw new Error(
      "no files to upload (hidden files and folders are left out); nothing was added",
    );
  }
  const source = await client.post<Source>("/api/v1/knowledge/sources", {
    location: "upload",
    kind: "files",
    name: add.name,
    project: add.project,
  });
  const uploaded: UploadOutcome[] = [];
  let sent = 0;
  try {
    for (const batch of batches(files)) {
      const form = new FormData();
      for (const file of batch) form.append("files", file.blob, file.name);
      const body = await client.request<{ files: UploadOutcome[] }>(
        "POST",
        `/api/v1/knowledge/sources/${source.id}/files`,
        { body: form },
      );
      uploaded.push(...body.files);
      sent += batch.length;
      onProgress(sent, files.length);
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    try {
      await client.delete(`/api/v1/knowledge/sources/${source.id}`);
    } catch (removal) {
      const why = removal instanceof Error ? removal.message : String(removal);
      throw new Error(
        `The upload failed: ${reason}. ${source.name} could not be removed (${why}); delete it from the list.`,
        { cause: error },
      );
    }
    throw new Error(`The upload failed: ${reason}. ${source.name} was removed again; nothing was added.`, {
      cause: error,
    });
  }
  return { source, uploaded };
}
