/**
 * Who is signed in: the API key, kept in this tab's sessionStorage only, and the client built on it.
 *
 * The key never goes to localStorage, a cookie or the URL: closing the tab forgets it, and other
 * tabs never see it. Calls go to the page's own origin (Envoy serves both the page and the API),
 * so the Content-Security-Policy can allow `connect-src 'self'` and nothing else.
 */

import { Code, ConnectError, MemoireError, createMemoire } from "@memoire/client";
import type { Memoire } from "@memoire/client";

const KEY_ITEM = "memoire.inspector.apiKey";
const USER_ITEM = "memoire.inspector.userId";

/** An app key acts for any user of its app (the page asks which); a user key for its own user only. */
export type Scope = "app" | "user";

export interface Session {
  readonly client: Memoire;
  readonly scope: Scope;
  readonly key: string;
}

/** Why a key was not accepted, in words for the sign-in form. */
export class SignInError extends Error {}

/** The key and user this tab signed in with earlier, if any. */
export function remembered(): { key: string; userId: string } | undefined {
  const key = sessionStorage.getItem(KEY_ITEM);
  return key ? { key, userId: sessionStorage.getItem(USER_ITEM) ?? "" } : undefined;
}

export function rememberUser(userId: string): void {
  sessionStorage.setItem(USER_ITEM, userId);
}

export function forget(): void {
  sessionStorage.removeItem(KEY_ITEM);
  sessionStorage.removeItem(USER_ITEM);
}

/**
 * Checks the key with one cheap read and learns its scope from the answer: a user key may list
 * without naming a user, an app key is told that `user_id` is required. Nothing is stored
 * unless the server accepted the key.
 */
export async function signIn(key: string, baseUrl: string = location.origin): Promise<Session> {
  const client = createMemoire({ baseUrl, apiKey: key, transport: "grpc-web", timeoutMs: 15_000 });
  let scope: Scope;
  try {
    await client.listMemories({ kind: "fact", pageSize: 1 });
    scope = "user";
  } catch (error) {
    const failure = MemoireError.from(error);
    if (failure.code === Code.InvalidArgument && failure.fieldViolations.some((v) => v.field === "user_id")) {
      scope = "app";
    } else if (failure.code === Code.Unauthenticated) {
      throw new SignInError(`The server refused this key (${failure.reason || "UNAUTHENTICATED"}).`);
    } else {
      throw new SignInError(`Could not check the key: ${describe(failure)}`);
    }
  }
  sessionStorage.setItem(KEY_ITEM, key);
  return { client, scope, key };
}

/** One line for any failed call: the gRPC code, the server's reason and its message. */
export function describe(error: unknown): string {
  if (!(error instanceof ConnectError)) return error instanceof Error ? error.message : String(error);
  const failure = MemoireError.from(error);
  const reason = failure.reason ? ` ${failure.reason}` : "";
  return `${Code[failure.code]}${reason}: ${failure.rawMessage}`;
}

/** True when the key stopped working mid-session (revoked, expired): the page signs out. */
export function keyRejected(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unauthenticated;
}
