/** The registry's client paths, read back. */

export interface RegistryTarget {
  repository: string;
  pkg: string | null;
  /** An OCI manifest's tag or digest. */
  manifest: string | null;
}

const MARKERS = { pkg: "/-/packages/", manifest: "/-/manifests/" } as const;

/** `<repository…>/-/packages/<package>` or `<repository…>/-/manifests/<tag or digest>` → its
 * parts (`-` is never a repository name segment). */
export function splitRegistryPath(splat: string): RegistryTarget {
  const decode = (value: string) => {
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  };
  const trim = (value: string) => value.replace(/\/+$/, "");
  for (const [kind, marker] of Object.entries(MARKERS) as [keyof typeof MARKERS, string][]) {
    const at = splat.indexOf(marker);
    if (at >= 0) {
      const rest = decode(trim(splat.slice(at + marker.length)));
      return {
        repository: decode(splat.slice(0, at)),
        pkg: kind === "pkg" ? rest : null,
        manifest: kind === "manifest" ? rest : null,
      };
    }
  }
  return { repository: decode(trim(splat)), pkg: null, manifest: null };
}
