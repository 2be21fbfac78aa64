/** Scroll to the first block a highlight marked (`data-passage="first"`) and focus it; false
 * when there is none. */
export function focusPassage(root: ParentNode = document): boolean {
  const first = root.querySelector<HTMLElement>('[data-passage="first"]');
  if (!first) return false;
  first.scrollIntoView({ block: "start" });
  first.focus({ preventScroll: true });
  return true;
}
