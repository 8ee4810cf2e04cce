/**
 * Headless Chromium under remote control, for tests/integration/test_inspector.py.
 *
 * The Python test owns the scenario (it also writes through the gRPC API between steps), so this
 * driver only executes commands: one JSON object per line on stdin, one JSON answer per line on
 * stdout (`{"ok": true, "value": ...}` or `{"ok": false, "error": "..."}`). It uses the system's
 * Chromium (`CHROMIUM`, default /usr/bin/chromium) through puppeteer-core, which downloads nothing.
 */

import { createInterface } from "node:readline";

import puppeteer from "puppeteer-core";
import type { Browser, Page } from "puppeteer-core";

type Command =
  | { op: "goto"; url: string }
  | { op: "type"; selector: string; text: string }
  | { op: "click"; selector: string }
  | { op: "waitFor"; selector: string; text?: string; timeoutMs?: number }
  | { op: "count"; selector: string }
  | { op: "screenshot"; path: string }
  | { op: "storage" }
  | { op: "requests" }
  | { op: "problems" }
  | { op: "close" };

const browser: Browser = await puppeteer.launch({
  executablePath: process.env["CHROMIUM"] ?? "/usr/bin/chromium",
  headless: true,
  // Root in CI containers cannot use Chromium's sandbox; /dev/shm is small there.
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--no-first-run", "--disable-gpu"],
  defaultViewport: { width: 1280, height: 860 },
});
const page: Page = await browser.newPage();
const requested: string[] = [];
const problems: string[] = [];
page.on("request", (request) => requested.push(request.url()));
page.on("console", (message) => {
  if (message.type() === "error") problems.push(`console: ${message.text()}`);
});
page.on("pageerror", (error) => problems.push(`page error: ${String(error)}`));

async function run(command: Command): Promise<unknown> {
  switch (command.op) {
    case "goto":
      await page.goto(command.url, { waitUntil: "load" });
      return page.url();
    case "type":
      await page.locator(command.selector).fill(command.text);
      return null;
    case "click":
      await page.locator(command.selector).click();
      return null;
    case "waitFor": {
      const handle = await page.waitForFunction(
        (selector: string, text: string | null) =>
          [...document.querySelectorAll(selector)].find(
            (e) => (e as HTMLElement).offsetParent !== null && (text === null || (e.textContent ?? "").includes(text)),
          )?.textContent ?? false,
        { timeout: command.timeoutMs ?? 15_000, polling: 100 },
        command.selector,
        command.text ?? null,
      );
      return handle.jsonValue();
    }
    case "count":
      return page.$$eval(command.selector, (found) => found.length);
    case "screenshot":
      await page.screenshot({ path: command.path as `${string}.png`, fullPage: true });
      return command.path;
    case "storage":
      return {
        local: await page.evaluate(() => JSON.stringify(Object.entries(localStorage))),
        session: await page.evaluate(() => JSON.stringify(Object.entries(sessionStorage))),
        cookies: (await page.cookies()).map((c) => `${c.name}=${c.value}`),
      };
    case "requests":
      return requested;
    case "problems":
      return problems;
    case "close":
      await browser.close();
      return null;
  }
}

function answer(reply: object): void {
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const command = JSON.parse(line) as Command;
  try {
    answer({ ok: true, value: await run(command) });
  } catch (error) {
    answer({ ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  }
  if (command.op === "close") break;
}
await browser.close().catch(() => undefined);
// stdin (the test's pipe) would otherwise keep Node waiting for more commands.
process.exit(0);
