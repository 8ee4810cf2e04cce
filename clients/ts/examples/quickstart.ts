import { Code, createMemoire, ExtractionState, MemoireError } from "@memoire/client";

// gRPC straight to the server; in a browser use { baseUrl: "<Envoy URL>", transport: "grpc-web" }.
const memoire = createMemoire({
  target: process.env.MEMOIRE_TARGET ?? "127.0.0.1:50051",
  apiKey: process.env.MEMOIRE_API_KEY, // an app key: name the user on every call
  transport: "grpc",
});
const userId = `user-${Date.now()}`;

// Messages are stored verbatim and recallable at once; facts can be written directly.
await memoire.ingest({ userId, messages: [{ role: "user", content: "I live in Austin, Texas now." }] });
await memoire.addMemories({
  userId,
  facts: [{ content: "Plays the cello", category: "hobby", slot: "skill", value: "cello", essential: true }],
});
const { hits } = await memoire.recall({ userId, query: "Where do I live?", limit: 3 });
console.log("recall:", hits.map((hit) => hit.memory?.content));
const { promptBlock } = await memoire.conscious({ userId });
console.log("conscious:", promptBlock);

// ObserveChat beside a streaming LLM call: context at once, the reply as it streams, then the
// stored turn and, once extraction has run, the memory it changed.
const chat = memoire.observeChat();
const context = await chat.start({ turnId: "turn-1", userId, userMessage: "Which instrument do I play?" });
console.log("context for the model:", context.promptBlock);
for (const piece of ["You play ", "the cello."]) {
  chat.delta("turn-1", piece); // forward each chunk your LLM streams
}
chat.end("turn-1");
chat.close(); // no more turns: the stream ends once pending updates are delivered
for await (const event of chat) {
  if (event.case === "stored") console.log("stored messages:", event.value.messageIds.length);
  if (event.case === "update") console.log("extraction:", ExtractionState[event.value.extractionState]);
}

// Failures are ConnectErrors carrying the server's reason and bad fields.
try {
  await memoire.recall({ userId, query: "" });
} catch (error) {
  if (!(error instanceof MemoireError)) throw error;
  console.log("error:", Code[error.code], error.reason, error.fieldViolations.map((v) => v.field));
}

const { memories } = await memoire.listMemories({ userId });
console.log("memories:", memories.length);
const forgotten = await memoire.forgetUser({ userId });
console.log(`forgotten: ${forgotten.deletedMessages} messages, ${forgotten.deletedMemories} memories`);
memoire.close();
