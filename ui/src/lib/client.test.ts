import { QueryObserver } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";

import { ApiError } from "./api";
import { makeQueryClient, SESSION_KEY } from "./client";

const signedOut = new ApiError(401, "unauthenticated", "authentication required");

describe("makeQueryClient", () => {
  it("asks who we are again when another query finds the session gone", async () => {
    const client = makeQueryClient();
    let asked = 0;
    await client.fetchQuery({ queryKey: SESSION_KEY, queryFn: () => ++asked });
    await client
      .fetchQuery({ queryKey: ["jobs"], queryFn: () => Promise.reject(signedOut), retry: false })
      .catch(() => undefined);
    expect(client.getQueryState(SESSION_KEY)?.isInvalidated).toBe(true);
  });

  it("does not loop when the session query itself is refused", async () => {
    const client = makeQueryClient();
    let asked = 0;
    const refused = () => {
      asked += 1;
      // A loop would spin without yielding; answering after a few refusals ends it, failing.
      return asked > 3 ? Promise.resolve(null) : Promise.reject(signedOut);
    };
    // A mounted page watches the session query, so an invalidation would refetch it at once.
    const observer = new QueryObserver(client, { queryKey: SESSION_KEY, queryFn: refused, retry: false });
    const stop = observer.subscribe(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    stop();
    expect(asked).toBe(1);
  });
});
