import { describe, expect, it } from "vitest";

import { splitRegistryPath } from "./routes";

describe("splitRegistryPath", () => {
  it("reads a repository whose name holds slashes", () => {
    expect(splitRegistryPath("default/charts/web/")).toEqual({ repository: "default/charts/web", pkg: null, manifest: null });
  });

  it("reads a package of a repository", () => {
    expect(splitRegistryPath("js/-/packages/%40acme%2Fwidget")).toEqual({ repository: "js", pkg: "@acme/widget", manifest: null });
  });

  it("reads an OCI manifest by tag or by digest", () => {
    expect(splitRegistryPath("default/app/-/manifests/v1")).toEqual({ repository: "default/app", pkg: null, manifest: "v1" });
    expect(splitRegistryPath("default/app/-/manifests/sha256%3Aabc")).toEqual({
      repository: "default/app",
      pkg: null,
      manifest: "sha256:abc",
    });
  });

  it("keeps a malformed escape as it is", () => {
    expect(splitRegistryPath("default/app/-/manifests/%E0%A4%A")).toMatchObject({ manifest: "%E0%A4%A" });
  });
});
