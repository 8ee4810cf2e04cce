// The client against a real server: once over gRPC straight to it, once over gRPC-web through
// Envoy. Run by tests/integration/test_ts_client.py, which starts both and sets
// MEMOIRE_TARGET (host:port of the server), MEMOIRE_HTTP_URL (Envoy) and MEMOIRE_API_KEY (an app key).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { createGrpcTransport } from "@connectrpc/connect-node";

import {
  Code,
  ConnectError,
  ExtractionState,
  MemoireError,
  MemoryKind,
  Role,
  createMemoire,
  errorReason,
} from "@memoire/client";
import type { ChatEvent, ExportItem, Memoire, MemoireOptions } from "@memoire/client";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run these tests through pytest tests/integration/test_ts_client.py, ` +
        "which starts the server and Envoy",
    );
  }
  return value;
}

const TARGET = required("MEMOIRE_TARGET");
const HTTP_URL = required("MEMOIRE_HTTP_URL");
const API_KEY = required("MEMOIRE_API_KEY");

const newUser = (): string => `user-${randomUUID()}`;

/** The failure of a call that must fail. */
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

const TRANSPORTS: [string, MemoireOptions][] = [
  ["gRPC, straight to the server", { target: TARGET, transport: "grpc" }],
  ["gRPC-web, through Envoy", { baseUrl: HTTP_URL, transport: "grpc-web" }],
  ["Connect, through Envoy", { baseUrl: HTTP_URL, transport: "connect" }],
];

for (const [name, options] of TRANSPORTS) {
  describe(`unary calls over ${name}`, () => {
    let memoire: Memoire;
    before(() => {
      memoire = createMemoire({ ...options, apiKey: API_KEY });
    });
    after(() => memoire.close());

    test("ingest stores messages that recall finds at once", async () => {
      const userId = newUser();
      const ingested = await memoire.ingest({
        userId,
        sessionId: "chat-1",
        messages: [
          { content: "I live in Austin, Texas now.", clientMessageId: "m1" },
          { role: "assistant", content: "Noted: Austin.", createTime: new Date() },
        ],
      });
      assert.equal(ingested.messageIds.length, 2);
      assert.equal(ingested.duplicateCount, 0);
      assert.ok(ingested.extractionId);
      assert.equal(ingested.extractionState, ExtractionState.SKIPPED); // no LLM on the test server

      const again = await memoire.ingest({ userId, sessionId: "chat-1", messages: [{ content: "x", clientMessageId: "m1" }] });
      assert.equal(again.duplicateCount, 1);
      assert.equal(again.messageIds[0], ingested.messageIds[0]);

      const { hits } = await memoire.recall({ userId, query: "Where do I live?", kinds: ["episode"], limit: 5 });
      const austin = hits.find((hit) => hit.memory?.content === "I live in Austin, Texas now.");
      assert.ok(austin, `recall missed the message: ${JSON.stringify(hits.map((h) => h.memory?.content))}`);
      assert.equal(austin.memory?.kind, MemoryKind.EPISODE);
      assert.equal(austin.memory?.role, Role.USER);
      assert.equal(austin.memory?.sessionId, "chat-1");
      assert.ok((austin.score?.final ?? 0) > 0);
    });

    test("addMemories supersedes by slot; conscious and listMemories serve the facts", async () => {
      const userId = newUser();
      const [sf] = (
        await memoire.addMemories({
          userId,
          facts: [
            {
              content: "Lives in San Francisco",
              slot: "location.home",
              value: "San Francisco",
              essential: true,
              validFromTime: new Date(Date.now() - 86_400_000), // a day ago
            },
          ],
        })
      ).memories;
      assert.ok(sf?.current);
      const { memories } = await memoire.addMemories({
        userId,
        requestId: "move-1",
        facts: [
          {
            content: "Lives in Dallas",
            category: "location",
            slot: "location.home",
            value: "Dallas",
            essential: true,
          },
          "Likes jazz",
        ],
      });
      assert.deepEqual(
        memories.map((m) => m.content),
        ["Lives in Dallas", "Likes jazz"],
      );
      const dallas = memories[0];
      assert.ok(dallas);

      const conscious = await memoire.conscious({ userId });
      assert.deepEqual(
        conscious.memories.map((m) => m.id),
        [dallas.id],
      );
      assert.match(conscious.promptBlock, /Lives in Dallas/);
      assert.doesNotMatch(conscious.promptBlock, /San Francisco/);

      const current = await memoire.listMemories({ userId, kind: "fact", currentViewOnly: true });
      assert.deepEqual(current.memories.map((m) => m.content).sort(), ["Likes jazz", "Lives in Dallas"]);
      const all = await memoire.listMemories({ userId, slot: "location.home" });
      const old = all.memories.find((m) => m.id === sf?.id);
      assert.equal(old?.current, false);
      assert.equal(old?.supersededBy, dallas.id);

      const first = await memoire.listMemories({ userId, pageSize: 1 });
      assert.equal(first.memories.length, 1);
      assert.ok(first.nextPageToken);
      const second = await memoire.listMemories({ userId, pageSize: 1, pageToken: first.nextPageToken });
      assert.notEqual(second.memories[0]?.id, first.memories[0]?.id);
    });

    test("forgetUser erases everything about the user", async () => {
      const userId = newUser();
      await memoire.ingest({ userId, messages: [{ content: "My cat is called Miso." }] });
      await memoire.addMemories({ userId, facts: ["Has a cat named Miso"] });
      const forgotten = await memoire.forgetUser({ userId });
      assert.equal(forgotten.deletedMessages, 1n);
      assert.equal(forgotten.deletedMemories, 2n);
      assert.deepEqual((await memoire.listMemories({ userId })).memories, []);
    });

    test("exportUser streams the user first, then what is stored about them", async () => {
      const userId = newUser();
      await memoire.ingest({ userId, sessionId: "chat-1", messages: [{ content: "I keep bees." }] });
      await memoire.addMemories({ userId, facts: ["Keeps bees"] });
      const items: ExportItem[] = [];
      for await (const item of memoire.exportUser({ userId })) {
        items.push(item);
      }
      const [first] = items;
      assert.ok(first?.case === "user");
      assert.equal(first.value.id, userId);
      assert.equal(items.filter((item) => item.case === "user").length, 1);
      assert.deepEqual(
        items.flatMap((item) => (item.case === "session" ? [item.value.id] : [])),
        ["chat-1"],
      );
      assert.deepEqual(
        items.flatMap((item) => (item.case === "message" ? [item.value.content] : [])),
        ["I keep bees."],
      );
      assert.deepEqual(
        items.flatMap((item) => (item.case === "memory" ? [item.value.content] : [])).sort(),
        ["I keep bees.", "Keeps bees"],
      );
      assert.equal(items.filter((item) => item.case === "extraction").length, 1);

      const error = await failure(async () => {
        for await (const _ of memoire.exportUser({ userId: newUser() })) {
          // an unknown user fails before any item
        }
      });
      assert.equal(error.code, Code.NotFound);
      assert.equal(error.reason, "USER_NOT_FOUND");
    });

    test("bad input fails with INVALID_ARGUMENT, its reason and the bad fields", async () => {
      const error = await failure(() => memoire.recall({ userId: newUser(), query: "" }));
      assert.equal(error.code, Code.InvalidArgument);
      assert.equal(error.reason, "INVALID_ARGUMENT");
      assert.equal(error.domain, "memoire.dev");
      assert.deepEqual(
        error.fieldViolations.map((v) => v.field),
        ["query"],
      );
      assert.equal(errorReason(error), "INVALID_ARGUMENT");
    });

    test("a wrong API key fails with UNAUTHENTICATED and reason API_KEY_INVALID", async () => {
      const stranger = createMemoire({ ...options, apiKey: "mk_not_a_real_key" });
      try {
        const error = await failure(() => stranger.conscious({ userId: newUser() }));
        assert.equal(error.code, Code.Unauthenticated);
        assert.equal(error.reason, "API_KEY_INVALID");
      } finally {
        stranger.close();
      }
    });
  });
}

describe("ObserveChat over gRPC", () => {
  let memoire: Memoire;
  before(() => {
    memoire = createMemoire({ target: TARGET, apiKey: API_KEY, transport: "grpc" });
  });
  after(() => memoire.close());

  test("a full turn: context at once, deltas, stored once, then the extraction's update", async () => {
    const userId = newUser();
    const [home] = (
      await memoire.addMemories({
        userId,
        facts: [
          { content: "Lives in Austin, Texas", slot: "location.home", value: "Austin", essential: true },
          { content: "Plays the cello on Sundays", category: "hobby" },
        ],
      })
    ).memories;
    const turnId = `turn-${randomUUID()}`;

    const chat = memoire.observeChat({ timeoutMs: 60_000 });
    const events: ChatEvent[] = [];
    const reading = (async () => {
      for await (const event of chat) {
        events.push(event);
      }
    })();

    const context = await chat.start({ turnId, userId, userMessage: "Which instrument do I play?" });
    assert.equal(context.turnId, turnId);
    assert.deepEqual(
      context.conscious.map((m) => m.id),
      [home?.id],
    );
    assert.ok(context.recalled.some((hit) => hit.memory?.content === "Plays the cello on Sundays"));
    assert.match(context.promptBlock, /^<memoire_memory>/);
    assert.match(context.promptBlock, /Plays the cello on Sundays/);

    chat.delta(turnId, "You play ");
    chat.delta(turnId, "the cello.");
    const stored = await chat.end(turnId);
    assert.equal(stored.turnId, turnId);
    assert.equal(stored.messageIds.length, 2);
    assert.ok(stored.extractionId);

    chat.close();
    await reading;
    await chat.done;
    assert.deepEqual(
      events.map((e) => e.case),
      ["context", "stored", "update"],
    );
    const update = events[2];
    assert.ok(update?.case === "update");
    assert.equal(update.value.turnId, turnId);
    assert.equal(update.value.extractionId, stored.extractionId);
    assert.equal(update.value.extractionState, ExtractionState.SKIPPED); // no LLM configured

    const { memories } = await memoire.listMemories({ userId, kind: "episode" });
    assert.deepEqual(
      memories.map((m) => [m.role, m.content]).sort(),
      [
        [Role.ASSISTANT, "You play the cello."],
        [Role.USER, "Which instrument do I play?"],
      ].sort(),
    );
  });

  test("turns in a row, awaiting start and end alone: a stored turn serves the next one", async () => {
    const userId = newUser();
    const chat = memoire.observeChat({ timeoutMs: 60_000 });
    const first = await chat.start({ turnId: "t1", userId, userMessage: "My sister Ada lives in Lisbon." });
    assert.deepEqual(first.recalled, []);
    await chat.end("t1", { assistantMessage: "Lisbon is lovely." });

    const second = await chat.start({ turnId: "t2", userId, userMessage: "Where does Ada live?", recallLimit: 3 });
    assert.ok(
      second.recalled.some((hit) => hit.memory?.content === "My sister Ada lives in Lisbon."),
      JSON.stringify(second.recalled.map((hit) => hit.memory?.content)),
    );
    chat.delta("t2", "In Lis");
    const stored = await chat.end("t2", { abandoned: true });
    assert.equal(stored.messageIds.length, 2);
    chat.close();
    await chat.done;
    assert.throws(() => chat.delta("t3", "late"), (e: unknown) => e instanceof MemoireError && e.code === Code.FailedPrecondition);
  });

  test("cancel ends the stream at once", async () => {
    const chat = memoire.observeChat();
    await chat.start({ turnId: "t1", userId: newUser(), userMessage: "hello" });
    chat.cancel();
    await assert.rejects(chat.done, (e: unknown) => e instanceof MemoireError && e.code === Code.Canceled);
  });

  test("a bad event ends the stream with the server's reason and field", async () => {
    const chat = memoire.observeChat({ timeoutMs: 30_000 });
    const start = chat.start({ turnId: "", userId: newUser(), userMessage: "hello" });
    const error = await failure(() => start);
    assert.equal(error.code, Code.InvalidArgument);
    assert.equal(error.reason, "INVALID_ARGUMENT");
    assert.deepEqual(
      error.fieldViolations.map((v) => v.field),
      ["start.turn_id"],
    );
    await assert.rejects(chat.done, (e: unknown) => e instanceof MemoireError && e.code === Code.InvalidArgument);
    await assert.rejects(async () => {
      for await (const _ of chat) {
        // the failure surfaces here as well
      }
    }, MemoireError);
  });

  for (const transport of ["grpc-web", "connect"] as const) {
    test(`${transport} cannot carry the bidirectional stream: observeChat says so`, () => {
      const web = createMemoire({ baseUrl: HTTP_URL, apiKey: API_KEY, transport });
      assert.throws(
        () => web.observeChat(),
        (e: unknown) => e instanceof MemoireError && e.code === Code.Unimplemented,
      );
    });
  }
});

test("any connect Transport can be given; the API key is added to its calls", async () => {
  const memoire = createMemoire({ transport: createGrpcTransport({ baseUrl: `http://${TARGET}` }), apiKey: API_KEY });
  const userId = newUser();
  await memoire.addMemories({ userId, facts: [{ content: "Speaks Portuguese", essential: true }] });
  const { memories } = await memoire.conscious({ userId });
  assert.deepEqual(
    memories.map((m) => m.content),
    ["Speaks Portuguese"],
  );
});
