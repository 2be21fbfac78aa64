/** `@devflow/ui`: what domains' pages (src/devflow/<domain>/ui) may use from the shell. */

export { api, ApiClient, ApiError, REQUEST_HEADER, withQuery } from "./api";
export type { Fetch, Query, RequestOptions } from "./api";
export {
  Card,
  Code,
  EmptyState,
  ErrorMessage,
  ProgressBar,
  Stat,
  StatusBadge,
} from "./components";
export type { Contribution, NavEntry, OverviewCard, PageRoute } from "./contribution";
export { formatBytes, formatCount, formatDuration, formatWhen, shortDigest } from "./format";
export { focusPassage, Markdown } from "./markdown";
export type { MarkdownProps, ReferenceTarget } from "./markdown";
export { CopyButton, Snippet } from "./copy";
export { BUTTON, ConfirmButton, Field, INPUT, SECONDARY } from "./confirm";
export { safeHref } from "./text";
export { useEvents, useLiveStatus, useRefetchOn } from "./live";
export { useSession } from "./session";
export type { DevflowEvent, Job, JobAction, Page, Project, SessionInfo, User } from "./types";
