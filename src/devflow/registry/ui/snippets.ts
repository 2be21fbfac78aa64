/** The commands and configuration that install from and publish to a repository, with the
 * dashboard's own address filled in.
 *
 * The API's `url` is built from the server's configured base URL, which may say 127.0.0.1 to a
 * person who opened the dashboard through a tunnel or a DNS name: the path comes from the API,
 * the origin from the browser (what the person evidently reaches). Secrets are never filled in;
 * the snippets read `$TOKEN` / `${NPM_TOKEN}` from the environment, as the README does. */

import type { Repository } from "./types";

export interface Snippet {
  title: string;
  text: string;
  note?: string;
}

/** `origin` + the path of `url` (a URL or, for OCI, a bare host, which has no path). */
export function localUrl(url: string, origin: string): string {
  let path = "/";
  try {
    const parsed = new URL(url);
    path = parsed.pathname + parsed.search;
  } catch {
    path = "/";
  }
  return origin.replace(/\/+$/, "") + path;
}

/** `http://__token__:$TOKEN@host/path`: pip takes credentials in the index URL. */
function withCredentials(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${user}:${password}@${parsed.host}${parsed.pathname}${parsed.search}`;
}

/** `@scope` of an npm name, or null for an unscoped one. */
export function npmScope(name: string): string | null {
  const match = /^(@[^/\s]+)\//.exec(name);
  return match ? (match[1] ?? null) : null;
}

function pypiSnippets(repo: Repository, origin: string, pkg: string | null): Snippet[] {
  const index = localUrl(repo.url, origin);
  const upload = localUrl(repo.upload_url, origin);
  const name = pkg ?? "<package>";
  return [
    {
      title: "Install with pip",
      text: `pip install --index-url "${withCredentials(index, "__token__", "$TOKEN")}" ${name}`,
      note: "TOKEN: a DevFlow token with read access (devflow token create …). uv takes the same --index-url.",
    },
    {
      title: "Publish with twine",
      text: `twine upload --repository-url ${upload} -u __token__ -p "$TOKEN" dist/*`,
      note: "TOKEN: a token with the registry:publish scope.",
    },
  ];
}

function npmSnippets(repo: Repository, origin: string, pkg: string | null): Snippet[] {
  const registry = localUrl(repo.url, origin);
  const noScheme = registry.replace(/^https?:/, "");
  const scope = (pkg ? npmScope(pkg) : null) ?? "@your-scope";
  const name = pkg ?? `${scope}/<package>`;
  return [
    {
      title: ".npmrc",
      text: `${scope}:registry=${registry}\n${noScheme}:_authToken=\${NPM_TOKEN}`,
      note: "One scope goes to DevFlow; every other package still comes from registry.npmjs.org.",
    },
    {
      title: "Install and publish",
      text: `export NPM_TOKEN="$TOKEN"\nnpm install ${name}\nnpm publish                    # in a package named ${scope}/…`,
    },
  ];
}

function ociSnippets(repo: Repository, origin: string, tag: string | null): Snippet[] {
  const url = new URL(origin);
  const host = url.host;
  const insecure = url.protocol === "http:";
  const image = `${host}/${repo.name}:${tag ?? "latest"}`;
  const project = repo.name.split("/")[0] ?? repo.project;
  return [
    {
      title: "Pull and push with docker",
      text: `echo "$TOKEN" | docker login ${host} -u me --password-stdin\ndocker pull ${image}\ndocker push ${image}`,
      ...(insecure
        ? { note: `Over plain http, docker needs "${host}" in insecure-registries (or use skopeo --tls-verify=false).` }
        : {}),
    },
    {
      title: "Helm charts",
      text: `helm registry login ${host} -u me --password-stdin <<<"$TOKEN"\nhelm push <chart>-<version>.tgz oci://${host}/${project}\nhelm pull oci://${host}/${repo.name} --version <version>\nhelm install <release> oci://${host}/${repo.name} --version <version>`,
      ...(insecure ? { note: "Over plain http, add --plain-http to helm." } : {}),
    },
    skopeoSnippet(repo, url, `:${tag ?? "latest"}`, tag ?? "latest"),
  ];
}

/** `skopeo copy` of an image (`:tag` or `@digest`) into a local OCI layout, no daemon needed. */
function skopeoSnippet(repo: Repository, url: URL, reference: string, localTag: string): Snippet {
  const insecure = url.protocol === "http:" ? " --src-tls-verify=false" : "";
  const local = repo.name.split("/").pop() ?? repo.name;
  return {
    title: "Copy with skopeo",
    text: `skopeo copy --src-creds "me:$TOKEN"${insecure} docker://${url.host}/${repo.name}${reference} oci:${local}:${localTag}`,
    note: "Into an OCI layout folder; docker-archive:, dir: or another registry's docker:// work the same way.",
  };
}

/** How to fetch one manifest: by digest (what it is forever) and by tag (what it is now);
 * `helm pull` for a chart. */
export function manifestSnippets(
  repo: Repository,
  origin: string,
  manifest: { digest: string; tags: string[]; kind: string; chartVersion: string | null },
): Snippet[] {
  const url = new URL(origin);
  const host = url.host;
  const insecure = url.protocol === "http:";
  const tag = manifest.tags[0] ?? null;
  if (manifest.kind === "chart") {
    const version = manifest.chartVersion ?? tag ?? "<version>";
    return [
      {
        title: "Pull with helm",
        text: `helm registry login ${host} -u me --password-stdin <<<"$TOKEN"\nhelm pull oci://${host}/${repo.name} --version ${version}${insecure ? " --plain-http" : ""}`,
      },
      skopeoSnippet(repo, url, `@${manifest.digest}`, version),
    ];
  }
  const byTag = tag ? `\ndocker pull ${host}/${repo.name}:${tag}` : "";
  return [
    {
      title: "Pull with docker",
      text: `echo "$TOKEN" | docker login ${host} -u me --password-stdin\ndocker pull ${host}/${repo.name}@${manifest.digest}${byTag}`,
      ...(insecure ? { note: `Over plain http, docker needs "${host}" in insecure-registries.` } : {}),
    },
    skopeoSnippet(repo, url, `@${manifest.digest}`, tag ?? "latest"),
  ];
}

/** The install and publish snippets for a repository (and a package or OCI tag in it). */
export function snippetsFor(repo: Repository, origin: string, pkg: string | null = null): Snippet[] {
  switch (repo.format) {
    case "pypi":
      return pypiSnippets(repo, origin, pkg);
    case "npm":
      return npmSnippets(repo, origin, pkg);
    case "oci":
      return ociSnippets(repo, origin, pkg);
    default:
      return [];
  }
}

/** How to put the first package into an empty repository, one line. */
export function firstPublish(repo: Repository): string {
  switch (repo.format) {
    case "pypi":
      return "Build it with python -m build, then publish with twine (below).";
    case "npm":
      return "Add the .npmrc lines below to a package named in that scope, then run npm publish.";
    case "oci":
      return "Push an image or a Helm chart (below); the repository fills on the first push.";
    default:
      return "Publish a package with its format's client.";
  }
}
