import { describe, expect, it } from "vitest";

import { localUrl, manifestSnippets, npmScope, snippetsFor } from "./snippets";
import type { Repository } from "./types";

function repo(format: string, name: string, url: string, upload = url): Repository {
  return {
    id: "1",
    name,
    project: "default",
    format,
    kind: "hosted",
    visibility: "private",
    description: "",
    created_at: "2026-12-04T00:00:00Z",
    url,
    upload_url: upload,
  };
}

const ORIGIN = "https://devflow.example.com";

describe("localUrl", () => {
  it("keeps the API's path and puts the dashboard's origin in front", () => {
    expect(localUrl("http://127.0.0.1:3737/pypi/py/simple/", ORIGIN)).toBe("https://devflow.example.com/pypi/py/simple/");
  });
});

describe("snippetsFor", () => {
  it("fills pip's index URL and twine's upload URL from the browser's origin, the token from $TOKEN", () => {
    const [install, publish] = snippetsFor(
      repo("pypi", "py", "http://127.0.0.1:3737/pypi/py/simple/", "http://127.0.0.1:3737/pypi/py/legacy/"),
      ORIGIN,
      "mypkg",
    );
    expect(install?.text).toBe('pip install --index-url "https://__token__:$TOKEN@devflow.example.com/pypi/py/simple/" mypkg');
    expect(publish?.text).toBe('twine upload --repository-url https://devflow.example.com/pypi/py/legacy/ -u __token__ -p "$TOKEN" dist/*');
  });

  it("writes the .npmrc for the package's own scope, the token read from the environment", () => {
    const [npmrc, use] = snippetsFor(repo("npm", "js", "http://127.0.0.1:3737/npm/js/"), "http://localhost:3791", "@acme/widget");
    expect(npmrc?.text).toBe("@acme:registry=http://localhost:3791/npm/js/\n//localhost:3791/npm/js/:_authToken=${NPM_TOKEN}");
    expect(use?.text).toContain("npm install @acme/widget");
  });

  it("uses a placeholder scope for a repository or an unscoped package", () => {
    const [npmrc] = snippetsFor(repo("npm", "js", "http://127.0.0.1:3737/npm/js/"), ORIGIN);
    expect(npmrc?.text.startsWith("@your-scope:registry=https://devflow.example.com/npm/js/")).toBe(true);
    expect(npmScope("left-pad")).toBeNull();
  });

  it("names an OCI image by the dashboard's host and the repository, and says what plain http needs", () => {
    const [docker, helm] = snippetsFor(repo("oci", "default/charts/web", "127.0.0.1:3737"), "http://10.0.0.5:3737", "v1");
    expect(docker?.text).toContain("docker pull 10.0.0.5:3737/default/charts/web:v1");
    expect(docker?.note).toContain("insecure-registries");
    expect(helm?.text).toContain("helm push <chart>-<version>.tgz oci://10.0.0.5:3737/default");
    expect(helm?.text).toContain("oci://10.0.0.5:3737/default/charts/web --version");
    expect(helm?.text).toContain("helm pull oci://10.0.0.5:3737/default/charts/web --version <version>");
  });

  it("copies an image with skopeo from the dashboard's host, without TLS only over plain http", () => {
    const oci = repo("oci", "default/app", "127.0.0.1:3737");
    const skopeo = snippetsFor(oci, "http://10.0.0.5:3737", "v1").find((s) => s.title === "Copy with skopeo");
    expect(skopeo?.text).toBe('skopeo copy --src-creds "me:$TOKEN" --src-tls-verify=false docker://10.0.0.5:3737/default/app:v1 oci:app:v1');
    const secure = snippetsFor(oci, ORIGIN, "v1").find((s) => s.title === "Copy with skopeo");
    expect(secure?.text).toBe('skopeo copy --src-creds "me:$TOKEN" docker://devflow.example.com/default/app:v1 oci:app:v1');
  });

  it("never writes a secret into a snippet", () => {
    for (const format of ["pypi", "npm", "oci"]) {
      for (const s of snippetsFor(repo(format, "r", "http://127.0.0.1:3737/x/r/"), ORIGIN)) {
        expect(s.text).not.toMatch(/dfl_/);
      }
    }
  });
});

describe("manifestSnippets", () => {
  const oci = repo("oci", "default/app", "127.0.0.1:3737");
  const digest = `sha256:${"a".repeat(64)}`;

  it("pulls an image by its digest, and by its tag when it has one", () => {
    const [docker, skopeo] = manifestSnippets(oci, ORIGIN, { digest, tags: ["v1"], kind: "image", chartVersion: null });
    expect(docker?.text).toContain(`docker pull devflow.example.com/default/app@${digest}`);
    expect(docker?.text).toContain("docker pull devflow.example.com/default/app:v1");
    expect(skopeo?.text).toContain(`docker://devflow.example.com/default/app@${digest} oci:app:v1`);
  });

  it("pulls a chart with helm by its version, --plain-http over http", () => {
    const charts = repo("oci", "default/charts/web", "127.0.0.1:3737");
    const [helm] = manifestSnippets(charts, "http://localhost:3737", { digest, tags: ["0.1.0"], kind: "chart", chartVersion: "0.1.0" });
    expect(helm?.text).toContain("helm pull oci://localhost:3737/default/charts/web --version 0.1.0 --plain-http");
  });

  it("never writes a secret into a snippet", () => {
    for (const kind of ["image", "index", "chart", "artifact"]) {
      for (const s of manifestSnippets(oci, ORIGIN, { digest, tags: [], kind, chartVersion: null })) {
        expect(s.text).not.toMatch(/dfl_/);
      }
    }
  });
});
