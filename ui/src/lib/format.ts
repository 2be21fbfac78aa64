/** Numbers and durations as the pages show them. */

export function formatCount(value: number): string {
  return new Intl.NumberFormat("en").format(value);
}

/** "42 s", "3 min", "2 h 5 min" */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

/** "just now", "5 min ago", or the local date and time. */
export function formatWhen(iso: string | null, now: Date = new Date()): string {
  if (!iso) return "—";
  const then = new Date(iso);
  const seconds = (now.getTime() - then.getTime()) / 1000;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`;
  return then.toLocaleString();
}

/** "512 B", "1.5 KiB", "12 MiB": sizes of files and blobs, in binary units as tools show them. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit] ?? ""}`;
}

/** "sha256:0123abcd…89ef" from a digest with or without its algorithm: enough to recognise
 * one, the full value stays in the title and the copy button. */
export function shortDigest(digest: string, keep = 12): string {
  const [algorithm, hex] = digest.includes(":") ? digest.split(":", 2) : ["sha256", digest];
  const value = hex ?? "";
  if (value.length <= keep + 4) return `${algorithm ?? "sha256"}:${value}`;
  return `${algorithm ?? "sha256"}:${value.slice(0, keep)}…${value.slice(-4)}`;
}
