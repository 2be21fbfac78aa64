import { describe, expect, it } from "vitest";

import { ApiClient, ApiError, REQUEST_HEADER, withQuery, type Fetch } from "./api";

function answering(response: Response | Error): { fetch: Fetch; calls: [string, RequestInit][] } {
  const calls: [string, RequestInit][] = [];
  const fetch: Fetch = (input, init) => {
    calls.push([input, init]);
    return response instanceof Error ? Promise.reject(response) : Promise.resolve(response);
  };
  return { fetch, calls };
}

describe("ApiClient", () => {
  it("sends the header that lets a cookie session write, and JSON", async () => {
    const { fetch, calls } = answering(Response.json({ ok: true }, { status: 201 }));
    await new ApiClient(fetch).post("/api/v1/projects", { name: "web" });
    const [url, init] = calls[0]!;
    expect(url).toBe("/api/v1/projects");
    expect(init.method).toBe("POST");
    expect(init.credentials).toBe("same-origin");
    expect((init.headers as Record<string, string>)[REQUEST_HEADER]).toBe("1");
    expect(init.body).toBe('{"name":"web"}');
  });

  it("sends a FormData as multipart, leaving the boundary to the browser", async () => {
    const { fetch, calls } = answering(Response.json({ files: [] }));
    const form = new FormData();
    form.append("files", new Blob(["x"]), "a.md");
    await new ApiClient(fetch).request("POST", "/api/v1/knowledge/sources/1/files", { body: form });
    const [, init] = calls[0]!;
    expect(init.body).toBe(form);
    expect((init.headers as Record<string, string>)["Content-Type"]).toBeUndefined();
    expect((init.headers as Record<string, string>)[REQUEST_HEADER]).toBe("1");
  });

  it("raises the API's own error message and code", async () => {
    const body = { error: { code: "permission_denied", message: "your token lacks 'write'", details: { a: 1 } } };
    const { fetch } = answering(Response.json(body, { status: 403 }));
    const error = await new ApiClient(fetch).get("/api/v1/x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 403, code: "permission_denied", message: "your token lacks 'write'", details: { a: 1 } });
  });

  it("describes an answer that is not the API's shape by its status and text", async () => {
    const { fetch } = answering(new Response("<h1>Bad gateway</h1>", { status: 502, statusText: "Bad Gateway" }));
    const error = await new ApiClient(fetch).get("/api/v1/x").catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 502, code: "http", message: "502 Bad Gateway: <h1>Bad gateway</h1>" });
  });

  it("says DevFlow did not answer when the request never got through", async () => {
    const { fetch } = answering(new TypeError("Failed to fetch"));
    const error = await new ApiClient(fetch).get("/api/v1/x").catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 0, code: "unreachable" });
    expect((error as ApiError).message).toContain("devflow up");
  });

  it("flags a missing session so the shell can offer the sign-in page", async () => {
    const body = { error: { code: "unauthenticated", message: "authentication required", details: {} } };
    const { fetch } = answering(Response.json(body, { status: 401 }));
    const error = (await new ApiClient(fetch).get("/api/v1/me").catch((e: unknown) => e)) as ApiError;
    expect(error.unauthenticated).toBe(true);
  });

  it("answers nothing for 204", async () => {
    const { fetch } = answering(new Response(null, { status: 204 }));
    await expect(new ApiClient(fetch).delete("/api/v1/session")).resolves.toBeUndefined();
  });
});

describe("withQuery", () => {
  it("leaves out empty values and encodes the rest", () => {
    expect(withQuery("/jobs", { status: "doing", task: "", project: null, q: "a b" })).toBe(
      "/jobs?status=doing&q=a+b",
    );
    expect(withQuery("/jobs", {})).toBe("/jobs");
  });
});
