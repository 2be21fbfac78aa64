/** Dark and light mode: follow the system unless the user picked one (kept in localStorage;
 * a preference, never a credential). Applied as the `dark` class on <html>. */

export type Theme = "system" | "light" | "dark";

const KEY = "devflow.theme";
const THEMES: Theme[] = ["system", "light", "dark"];

export function storedTheme(): Theme {
  const value = globalThis.localStorage?.getItem(KEY);
  return THEMES.includes(value as Theme) ? (value as Theme) : "system";
}

function systemIsDark(): boolean {
  return globalThis.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
}

export function applyTheme(theme: Theme): void {
  const dark = theme === "dark" || (theme === "system" && systemIsDark());
  document.documentElement.classList.toggle("dark", dark);
}

export function saveTheme(theme: Theme): void {
  if (theme === "system") globalThis.localStorage?.removeItem(KEY);
  else globalThis.localStorage?.setItem(KEY, theme);
  applyTheme(theme);
}

/** The next theme of the toggle: system → light → dark → system. */
export function nextTheme(theme: Theme): Theme {
  return THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length] ?? "system";
}

/** Re-apply when the system's preference changes (while the user follows it). */
export function followSystem(): () => void {
  const query = globalThis.matchMedia?.("(prefers-color-scheme: dark)");
  if (!query) return () => undefined;
  const update = (): void => applyTheme(storedTheme());
  query.addEventListener("change", update);
  return () => query.removeEventListener("change", update);
}
