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
export { formatCount, formatDuration, formatWhen } from "./format";
export { useEvents, useLiveStatus, useRefetchOn } from "./live";
export { useSession } from "./session";
export type { DevflowEvent, Job, Page, Project, SessionInfo, User } from "./types";
