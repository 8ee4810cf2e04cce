// The README's example is examples/quickstart.ts, word for word, and it runs against the real
// server (MEMOIRE_TARGET, MEMOIRE_API_KEY) as a program of its own.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

// Compiled to .build/test/: the package root is two folders up.
const ROOT = new URL("../../", import.meta.url);

test("the README shows examples/quickstart.ts verbatim", async () => {
  const readme = await readFile(new URL("README.md", ROOT), "utf8");
  const example = await readFile(new URL("examples/quickstart.ts", ROOT), "utf8");
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.includes(example), "README.md's ```ts block differs from examples/quickstart.ts");
});

test("the README example runs", async () => {
  for (const name of ["MEMOIRE_TARGET", "MEMOIRE_API_KEY"]) {
    assert.ok(process.env[name], `${name} is not set`);
  }
  const script = fileURLToPath(new URL(".build/examples/quickstart.js", ROOT));
  const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 120_000 });
  assert.match(stdout, /^recall: \[.*'I live in Austin, Texas now\.'/m);
  assert.match(stdout, /^conscious: <memoire_memory>/m);
  assert.match(stdout, /^context for the model: <memoire_memory>[\s\S]*Plays the cello/m);
  assert.match(stdout, /^stored messages: 2$/m);
  assert.match(stdout, /^extraction: SKIPPED$/m); // no LLM on the test server
  assert.match(stdout, /^error: InvalidArgument INVALID_ARGUMENT \[ 'query' \]$/m);
  assert.match(stdout, /^forgotten: 3 messages, 4 memories$/m);
});
