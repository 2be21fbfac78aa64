/** The registry's client paths, read back. */

/** `<repository…>/-/packages/<package>` → its parts (`-` is never a repository name segment). */
export function splitRegistryPath(splat: string): { repository: string; pkg: string | null } {
  const marker = "/-/packages/";
  const at = splat.indexOf(marker);
  const decode = (value: string) => {
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  };
  const trim = (value: string) => value.replace(/\/+$/, "");
  if (at < 0) return { repository: decode(trim(splat)), pkg: null };
  return { repository: decode(splat.slice(0, at)), pkg: decode(trim(splat.slice(at + marker.length))) };
}
