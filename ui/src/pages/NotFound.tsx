import { Link } from "react-router-dom";

import { EmptyState } from "../lib/components";

export function NotFound() {
  return (
    <EmptyState title="There is no page here">
      The address may be mistyped or from a later version. Go to the{" "}
      <Link className="underline" to="/">
        overview
      </Link>
      .
    </EmptyState>
  );
}
