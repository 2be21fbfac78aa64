import { describe, expect, it } from "vitest";

import { ApiClient, ApiError, type Fetch } from "@devflow/ui";

import { addUploadSource, batches, BATCH_BYTES, pickedFolder, toUploads, uploadName, type Upload } from "./uploads";

const MiB = 1024 * 1024;

describe("batches", () => {
  it("sends at most 500 files a request", () => {
    const files = Array.from({ length: 1201 }, () => ({ size: 1 }));
    expect(batches(files).map((b) => b.length)).toEqual([500, 500, 201]);
  });

  it("sends about 8 MiB a request, a larger file alone, in order", () => {
    const sizes = [3 * MiB, 3 * MiB, 3 * MiB, 20 * MiB, 1, 8 * MiB];
    const files = sizes.map((size, i) => ({ size, i }));
    expect(batches(files).map((b) => b.map((f) => f.i))).toEqual([[0, 1], [2], [3], [4], [5]]);
    for (const batch of batches(files)) {
      const total = batch.reduce((sum, f) => sum + f.size, 0);
      expect(batch.length === 1 || total <= BATCH_BYTES).toBe(true);
    }
  });

  it("sends nothing for no files", () => {
    expect(batches([])).toEqual([]);
  });
});

describe("uploadName", () => {
  it("names a folder's file by its path inside the folder", () => {
    expect(uploadName({ name: "a.md", webkitRelativePath: "docs/guide/a.md" })).toBe("guide/a.md");
  });

  it("names a loose file by its name", () => {
    expect(uploadName({ name: "a.md", webkitRelativePath: "" })).toBe("a.md");
    expect(uploadName({ name: "a.md" })).toBe("a.md");
  });

  it("leaves hidden files and folders out", () => {
    expect(uploadName({ name: "config", webkitRelativePath: "repo/.git/config" })).toBeNull();
    expect(uploadName({ name: ".env", webkitRelativePath: "" })).toBeNull();
  });

  it("finds the picked folder", () => {
    expect(pickedFolder([{ webkitRelativePath: "docs/a.md" }])).toBe("docs");
    expect(pickedFolder([{ webkitRelativePath: "" }])).toBeNull();
  });

  it("sorts a pick and drops the hidden", () => {
    const files = [
      new File(["b"], "b.md", {}),
      new File(["a"], "a.md", {}),
      new File(["s"], ".secret", {}),
    ];
    expect(toUploads(files).map((u) => u.name)).toEqual(["a.md", "b.md"]);
  });
});

function server(failOn: number | null, removal = true) {
  const calls: string[] = [];
  let uploads = 0;
  const fetch: Fetch = (url, init) => {
    calls.push(`${init.method} ${url}`);
    if (init.method === "POST" && url === "/api/v1/knowledge/sources") {
      return Promise.resolve(Response.json({ id: "s1", name: "docs" }, { status: 201 }));
    }
    if (init.method === "DELETE") {
      return Promise.resolve(
        removal
          ? new Response(null, { status: 204 })
          : Response.json({ error: { code: "forbidden", message: "no" } }, { status: 403 }),
      );
    }
    uploads += 1;
    if (uploads === failOn) {
      return Promise.resolve(
        Response.json({ error: { code: "too_large", message: "the request is too large" } }, { status: 413 }),
      );
    }
    const names = (init.body as FormData).getAll("files").map((f) => (f as File).name);
    return Promise.resolve(
      Response.json({ files: names.map((filename) => ({ filename, status: "new", document_id: null, chunks: 1, error: null })) }),
    );
  };
  return { client: new ApiClient(fetch), calls };
}

const files: Upload[] = Array.from({ length: 600 }, (_, i) => ({ name: `f${i}.md`, size: 1, blob: new Blob(["x"]) }));

describe("addUploadSource", () => {
  it("creates the source, then uploads in batches, reporting progress", async () => {
    const { client, calls } = server(null);
    const progress: number[] = [];
    const added = await addUploadSource(client, { name: "docs", project: "default" }, files, (sent) => progress.push(sent));
    expect(added.uploaded).toHaveLength(600);
    expect(calls).toEqual([
      "POST /api/v1/knowledge/sources",
      "POST /api/v1/knowledge/sources/s1/files",
      "POST /api/v1/knowledge/sources/s1/files",
    ]);
    expect(progress).toEqual([500, 600]);
  });

  it("removes the source it made when an upload fails, with the API's message", async () => {
    const { client, calls } = server(2);
    const error = await addUploadSource(client, { name: "docs", project: "default" }, files).catch((e: unknown) => e);
    expect(calls.at(-1)).toBe("DELETE /api/v1/knowledge/sources/s1");
    expect((error as Error).message).toBe(
      "The upload failed: the request is too large. docs was removed again; nothing was added.",
    );
    expect((error as Error).cause).toBeInstanceOf(ApiError);
  });

  it("says so when the source could not be removed", async () => {
    const { client } = server(1, false);
    const error = await addUploadSource(client, { name: "docs", project: "default" }, files).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/could not be removed \(no\)/);
  });

  it("creates nothing when there is nothing to send", async () => {
    const { client, calls } = server(null);
    await expect(addUploadSource(client, { name: "docs", project: "default" }, [])).rejects.toThrow(/nothing was added/);
    expect(calls).toEqual([]);
  });
});
