/** A new token's secret is shown once and kept nowhere else.
 *
 * The API answers `POST /api/v1/tokens` with the secret in `token`. The mutation hands the secret
 * to the page's own state (gone when the page unmounts) and returns the token without it, so
 * TanStack Query's caches, which outlive the page, never hold it; nothing goes to localStorage. */

import type { ApiClient } from "@devflow/ui";

import type { Token, TokenCreate, TokenCreated } from "./types";

export async function createToken(
  client: Pick<ApiClient, "post">,
  body: TokenCreate,
  reveal: (secret: string, token: Token) => void,
): Promise<Token> {
  const created = await client.post<TokenCreated>("/api/v1/tokens", body);
  const { token: secret, ...token } = created;
  reveal(secret, token);
  return token;
}

/** The expiry choices, in days (null: never). */
export const EXPIRY_DAYS: (number | null)[] = [7, 30, 90, 365, null];
