/**
 * The memory inspector: sign in, pick a user, see and correct what the agent believes.
 *
 * Every call is gRPC-web to this page's own origin (Envoy serves the page and the API), through
 * @memoire/client. The page polls ListMemories every POLL_MS while visible (see model.ts).
 */

import { byId, replace } from "./dom.js";
import { ACTION_DELETE, ACTION_HISTORY, activityView, currentView, recallView, slotChange, timelineView } from "./render.js";
import { POLL_MS, UserMemory } from "./model.js";
import type { Session } from "./session.js";
import { SignInError, describe, forget, keyRejected, remembered, rememberUser, signIn } from "./session.js";

/** How long a first click on Delete stays armed before it needs clicking twice again. */
const ARM_MS = 5_000;

let session: Session | undefined;
let model: UserMemory | undefined;
let view: "current" | "timeline" = "current";
/** The fact whose Delete was clicked once: the second click deletes. */
let armed = "";
let armTimer: number | undefined;
let pollTimer: number | undefined;
/** The query of the recall results on screen, if any. */
let lastRecall = "";
/** Bumped on sign-out and user switch, so a poll in flight for the old user is dropped. */
let generation = 0;

const panels = {
  signIn: byId("sign-in"),
  pickUser: byId("pick-user"),
  inspect: byId("inspect"),
};

function show(panel: HTMLElement | undefined): void {
  for (const p of Object.values(panels)) p.hidden = p !== panel;
  byId("sign-out").hidden = session === undefined;
  byId("switch-user").hidden = session?.scope !== "app" || panel !== panels.inspect;
}

function say(id: "notice" | "error", text: string): void {
  const element = byId(id);
  element.textContent = text;
  element.hidden = text === "";
}

async function start(): Promise<void> {
  const earlier = remembered();
  if (earlier === undefined) {
    show(panels.signIn);
    return;
  }
  try {
    await useSession(await signIn(earlier.key), earlier.userId);
  } catch (error) {
    // A key that stopped working since: ask again.
    forget();
    show(panels.signIn);
    byId("sign-in-error").textContent = error instanceof SignInError ? error.message : describe(error);
  }
}

async function useSession(next: Session, userId: string): Promise<void> {
  session = next;
  if (next.scope === "user") {
    await openUser("");
  } else if (userId) {
    await openUser(userId);
  } else {
    show(panels.pickUser);
    byId<HTMLInputElement>("user-id").focus();
  }
}

async function openUser(userId: string): Promise<void> {
  if (session === undefined) return;
  generation++;
  rememberUser(userId);
  model = new UserMemory(session.client, userId);
  byId("who").textContent =
    session.scope === "app" ? `app key · user ${userId}` : "user key · this key's own user";
  say("notice", "");
  say("error", "");
  replace(byId("recall-results"));
  lastRecall = "";
  show(panels.inspect);
  await poll(generation);
}

/** One refresh, then the next one POLL_MS later (never two at once). */
async function poll(mine: number): Promise<void> {
  window.clearTimeout(pollTimer);
  if (mine !== generation || model === undefined) return;
  if (!document.hidden) {
    try {
      await model.refresh();
      if (mine !== generation) return;
      say("error", "");
      draw();
    } catch (error) {
      if (mine !== generation) return;
      if (keyRejected(error)) {
        signOut(`Signed out: ${describe(error)}`);
        return;
      }
      say("error", describe(error));
      byId("live").textContent = "retrying…";
    }
  }
  pollTimer = window.setTimeout(() => void poll(mine), POLL_MS);
}

function draw(): void {
  if (model === undefined) return;
  if (model.refreshTime) {
    byId("live").textContent = `live · updated ${model.refreshTime.toLocaleTimeString()} · every ${POLL_MS / 1000} s`;
  }
  replace(byId("facts"), view === "current" ? currentView(model, armed) : timelineView(model, armed));
  replace(byId("activity"), activityView(model.changes));
}

function signOut(message = ""): void {
  generation++;
  window.clearTimeout(pollTimer);
  forget();
  session = undefined;
  model = undefined;
  byId("who").textContent = "";
  byId<HTMLInputElement>("api-key").value = "";
  byId("sign-in-error").textContent = message;
  show(panels.signIn);
}

async function onFactAction(button: HTMLButtonElement): Promise<void> {
  if (model === undefined) return;
  const id = button.dataset["id"] ?? "";
  const memory = model.find(id);
  if (memory === undefined) return;
  const mine = generation;
  try {
    if (button.dataset["action"] === ACTION_HISTORY) {
      if (model.histories.has(id)) model.closeHistory(id);
      else await model.loadHistory(id);
    } else if (button.dataset["action"] === ACTION_DELETE) {
      // Two clicks, no confirm(): a modal dialog would block the polling and the page's tests.
      if (armed !== id) {
        armed = id;
        window.clearTimeout(armTimer);
        armTimer = window.setTimeout(() => {
          armed = "";
          draw();
        }, ARM_MS);
      } else {
        armed = "";
        const { before, after } = await model.delete(memory);
        if (mine !== generation) return;
        // Recall results shown before the correction would still name the deleted fact.
        if (lastRecall) await onRecall();
        say(
          "notice",
          memory.slot
            ? `Deleted “${memory.content}”. Slot ${slotChange(memory.slot, before, after)}`
            : `Deleted “${memory.content}”.`,
        );
      }
    }
    say("error", "");
  } catch (error) {
    if (keyRejected(error)) return signOut(`Signed out: ${describe(error)}`);
    say("error", describe(error));
  }
  if (mine === generation) draw();
}

async function onRecall(): Promise<void> {
  if (model === undefined || session === undefined) return;
  const query = byId<HTMLInputElement>("recall-query").value.trim();
  lastRecall = query;
  if (!query) return;
  const currentViewOnly = byId<HTMLInputElement>("recall-current").checked;
  try {
    const { hits } = await session.client.recall({
      ...(model.userId ? { userId: model.userId } : {}),
      query,
      limit: 10,
      currentViewOnly,
    });
    replace(byId("recall-results"), recallView(query, hits));
    say("error", "");
  } catch (error) {
    say("error", describe(error));
  }
}

byId<HTMLFormElement>("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>("api-key");
  byId("sign-in-error").textContent = "Checking the key…";
  signIn(input.value.trim())
    .then((next) => {
      input.value = "";
      byId("sign-in-error").textContent = "";
      return useSession(next, "");
    })
    .catch((error: unknown) => {
      byId("sign-in-error").textContent = error instanceof SignInError ? error.message : describe(error);
    });
});

byId<HTMLFormElement>("pick-user-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const userId = byId<HTMLInputElement>("user-id").value.trim();
  if (userId) void openUser(userId);
});

byId<HTMLFormElement>("recall-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void onRecall();
});

byId("sign-out").addEventListener("click", () => signOut());
byId("switch-user").addEventListener("click", () => {
  generation++;
  window.clearTimeout(pollTimer);
  rememberUser("");
  show(panels.pickUser);
});

for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="view"]')) {
  radio.addEventListener("change", () => {
    view = radio.value === "timeline" ? "timeline" : "current";
    draw();
  });
}

byId("facts").addEventListener("click", (event) => {
  const button = (event.target as Element | null)?.closest<HTMLButtonElement>("button[data-action]");
  if (button) void onFactAction(button);
});

// Back to a hidden tab: refresh at once rather than up to POLL_MS later.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && model !== undefined) void poll(generation);
});

void start();
