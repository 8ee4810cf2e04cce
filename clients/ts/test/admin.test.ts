// Creating apps and meeting a rate limit, against a server of their own: it has an admin key
// and lets each key write twice at once, then once every 2 s. Run by
// tests/integration/test_ts_client.py, which starts it and sets MEMOIRE_LIMITED_TARGET (its
// host:port), MEMOIRE_ADMIN_KEY (its admin key) and MEMOIRE_LIMITED_API_KEY (an app key on it).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";

import { ApiKeyScope, Code, ConnectError, MemoireError, createMemoire } from "@memoire/client";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run these tests through pytest tests/integration/test_ts_client.py, ` +
        "which starts the server",
    );
  }
  return value;
}

const TARGET = required("MEMOIRE_LIMITED_TARGET");
const ADMIN_KEY = required("MEMOIRE_ADMIN_KEY");
const API_KEY = required("MEMOIRE_LIMITED_API_KEY");

const newName = (what: string): string => `${what}-${randomUUID()}`;

async function failure(call: () => Promise<unknown>): Promise<MemoireError> {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof ConnectError, `not a ConnectError: ${String(error)}`);
    assert.ok(error instanceof MemoireError);
    return error;
  }
  assert.fail("the call succeeded");
}

// The admin key, like any key, may write twice at once: these tests create two apps.
describe("creating apps", () => {
  test("createApp with the admin key issues an app key that works", async () => {
    const admin = createMemoire({ target: TARGET, apiKey: ADMIN_KEY, transport: "grpc" });
    const name = newName("app");
    const made = await admin.createApp({ name, keyName: "first key" }).finally(() => admin.close());
    assert.ok(made.app?.id);
    assert.equal(made.app?.name, name);
    assert.equal(made.apiKey?.scope, ApiKeyScope.APP);
    assert.equal(made.apiKey?.name, "first key");

    const app = createMemoire({ target: TARGET, apiKey: made.apiKeySecret, transport: "grpc" });
    try {
      const userId = newName("user");
      await app.addMemories({ userId, facts: [{ content: "Drinks green tea", essential: true }] });
      const { promptBlock } = await app.conscious({ userId });
      assert.match(promptBlock, /Drinks green tea/);
    } finally {
      app.close();
    }
  });

  test("the admin key can come with one call instead; any other key is refused", async () => {
    // A client of another key; its own bucket stays full for the rate-limit test below.
    const app = createMemoire({ target: TARGET, apiKey: newName("not-the-admin-key"), transport: "grpc" });
    try {
      const made = await app.createApp({ name: newName("app") }, { headers: { "x-api-key": ADMIN_KEY } });
      assert.ok(made.apiKeySecret);
      const error = await failure(() => app.createApp({ name: newName("app") }));
      assert.equal(error.code, Code.Unauthenticated);
      assert.equal(error.reason, "ADMIN_KEY_INVALID");
    } finally {
      app.close();
    }
  });
});

describe("rate limits", () => {
  test("a write over the limit fails with RESOURCE_EXHAUSTED and how long to wait", async () => {
    const memoire = createMemoire({ target: TARGET, apiKey: API_KEY, transport: "grpc" });
    try {
      const userId = newName("user");
      for (const content of ["First.", "Second."]) {
        await memoire.ingest({ userId, messages: [{ content }] });
      }
      const error = await failure(() => memoire.ingest({ userId, messages: [{ content: "Third." }] }));
      assert.equal(error.code, Code.ResourceExhausted);
      assert.equal(error.reason, "RATE_LIMITED");
      assert.ok(error.retryDelayMs !== undefined && error.retryDelayMs > 0 && error.retryDelayMs <= 2000);

      const { memories } = await memoire.listMemories({ userId }); // reads are not limited
      assert.deepEqual(memories.map((m) => m.content).sort(), ["First.", "Second."]);
    } finally {
      memoire.close();
    }
  });
});
