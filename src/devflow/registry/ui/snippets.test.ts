import { describe, expect, it } from "vitest";

import { localUrl, npmScope, snippetsFor } from "./snippets";
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
  });

  it("never writes a secret into a snippet", () => {
    for (const format of ["pypi", "npm", "oci"]) {
      for (const s of snippetsFor(repo(format, "r", "http://127.0.0.1:3737/x/r/"), ORIGIN)) {
        expect(s.text).not.toMatch(/dfl_/);
      }
    }
  });
});
