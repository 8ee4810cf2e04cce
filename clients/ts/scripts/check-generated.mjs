// Fails when the committed src/gen is not what `npm run generate` makes of proto/ now.
//
// Runs `buf generate` with the repository's buf.gen.yaml into a temporary folder (buf's
// --output moves every `out` under it) and compares the two trees file by file.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = resolve(PACKAGE, "../..");
const COMMITTED = join(PACKAGE, "src", "gen");
const BUF = join(PACKAGE, "node_modules", ".bin", process.platform === "win32" ? "buf.cmd" : "buf");

function files(folder) {
  try {
    return readdirSync(folder, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => relative(folder, join(entry.parentPath ?? entry.path, entry.name)))
      .sort();
  } catch (error) {
    if (error.code === "ENOENT") return [];
    throw error;
  }
}

const scratch = mkdtempSync(join(tmpdir(), "memoire-ts-gen-"));
try {
  execFileSync(BUF, ["generate", "--template", "buf.gen.yaml", "--output", scratch], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
  });
  const fresh = join(scratch, relative(ROOT, COMMITTED));
  const made = files(fresh);
  const have = files(COMMITTED);
  if (made.length === 0) {
    throw new Error(`buf generate wrote nothing under ${fresh}`);
  }
  const stale = [
    ...made.filter((f) => !have.includes(f)).map((f) => `missing: ${f}`),
    ...have.filter((f) => !made.includes(f)).map((f) => `not generated: ${f}`),
    ...made
      .filter((f) => have.includes(f))
      .filter((f) => !readFileSync(join(fresh, f)).equals(readFileSync(join(COMMITTED, f))))
      .map((f) => `differs: ${f}`),
  ];
  if (stale.length > 0) {
    console.error(
      `${relative(ROOT, COMMITTED)} is stale; run \`npm run generate\` in clients/ts and commit the result:\n  ` +
        stale.join("\n  "),
    );
    process.exit(1);
  }
  console.log(`${relative(ROOT, COMMITTED)} is current (${made.length} files)`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
