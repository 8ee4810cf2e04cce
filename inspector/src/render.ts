/** The inspector's views, drawn from a UserMemory: current facts, the timeline, histories, recall hits. */

import { MemoryEventType, MemoryKind } from "@memoire/client";
import type { Extraction, Memory, MemoryEvent, RecallHit } from "@memoire/client";

import { h } from "./dom.js";
import type { Child } from "./dom.js";
import { eventWord, extractionWord, factState, percent, polarityWord, score, shortId, when } from "./format.js";
import type { Change, UserMemory } from "./model.js";

/** What a fact card's buttons do; the ids travel in data attributes. */
export const ACTION_HISTORY = "history";
export const ACTION_DELETE = "delete";
export const ACTION_EXTRACTION = "extraction";

/** Current facts, grouped by category. */
export function currentView(model: UserMemory, armed: string): HTMLElement {
  if (model.current.length === 0) {
    return h("p", { class: "empty" }, "No current facts for this user yet. New ones appear here as they arrive.");
  }
  const groups = groupBy(model.current, (m) => m.category || "uncategorised");
  return h(
    "div",
    { class: "groups", "data-view": "current" },
    [...groups].map(([category, facts]) =>
      h(
        "section",
        { class: "group", "data-category": category },
        h("h3", {}, category, h("span", { class: "count" }, String(facts.length))),
        facts.sort(bySlotThenNewest).map((m) => factCard(model, m, armed)),
      ),
    ),
  );
}

/** Every fact, retired and deleted ones too, grouped by slot, newest first. */
export function timelineView(model: UserMemory, armed: string): HTMLElement {
  const facts = [...model.all, ...model.deleted.values()];
  if (facts.length === 0) return h("p", { class: "empty" }, "No facts stored for this user.");
  // Slots first (what replaces what), then the facts that fill none, by category.
  const groups = groupBy(facts, (m) => (m.slot ? `1 ${m.slot}` : `2 ${m.category || "uncategorised"}`));
  return h(
    "div",
    { class: "groups", "data-view": "timeline" },
    [...groups].map(([key, members]) =>
      h(
        "section",
        { class: "group", "data-slot": members[0]?.slot ?? "" },
        h(
          "h3",
          { class: "slot" },
          key.startsWith("1 ") ? ["slot ", h("code", {}, key.slice(2))] : `${key.slice(2)}, no slot`,
          h("span", { class: "count" }, String(members.length)),
        ),
        h("ol", { class: "timeline" }, members.sort(newestFirst).map((m) => h("li", {}, factCard(model, m, armed)))),
      ),
    ),
  );
}

function factCard(model: UserMemory, memory: Memory, armed: string): HTMLElement {
  const deleted = model.deleted.has(memory.id);
  const state = factState(memory, deleted);
  const replacement = memory.supersededBy ? model.find(memory.supersededBy) : undefined;
  const history = model.histories.get(memory.id);
  const denied = polarityWord(memory.polarity);
  return h(
    "article",
    {
      class: `fact state-${state}${model.fresh.has(memory.id) ? " fresh" : ""}`,
      "data-memory-id": memory.id,
      "data-slot": memory.slot,
      "data-state": state,
    },
    h(
      "header",
      {},
      h("span", { class: `badge ${state}` }, state),
      memory.essential && h("span", { class: "badge essential", title: "served at session start" }, "essential"),
      denied && h("span", { class: "badge denied" }, denied),
      h("p", { class: "content" }, memory.content),
    ),
    h(
      "dl",
      {},
      field("slot", memory.slot ? [h("code", {}, memory.slot), memory.value && ` = ${memory.value}`] : "none"),
      field("confidence", h("meter", { min: "0", max: "1", value: String(memory.confidence) }), ` ${percent(memory.confidence)}`),
      field("valid from", when(memory.validFromTime)),
      memory.validToTime && field("valid to", when(memory.validToTime)),
      field("learned", when(memory.createTime)),
      memory.supersededBy &&
        field("replaced by", replacement ? `“${replacement.content}”` : h("code", {}, shortId(memory.supersededBy))),
    ),
    sources(model, memory),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        { type: "button", "data-action": ACTION_HISTORY, "data-id": memory.id, "aria-expanded": history ? "true" : "false" },
        history ? "Hide history" : "Why does the agent believe this?",
      ),
      !deleted &&
        h(
          "button",
          { type: "button", class: "danger", "data-action": ACTION_DELETE, "data-id": memory.id },
          armed === memory.id ? "Click again to delete" : "Delete",
        ),
    ),
    history && historyList(model, history),
  );
}

function field(name: string, ...value: (Child | Child[])[]): HTMLElement {
  return h("div", {}, h("dt", {}, name), h("dd", {}, ...value));
}

function sources(model: UserMemory, memory: Memory): HTMLElement {
  if (memory.sourceMessageIds.length === 0) {
    return h("p", { class: "sources" }, "Added directly (AddMemories), not from a message.");
  }
  return h(
    "div",
    { class: "sources" },
    h("span", {}, "From:"),
    h(
      "ul",
      {},
      memory.sourceMessageIds.map((id) => {
        const episode = model.messages.get(id);
        return h(
          "li",
          {},
          episode ? h("q", {}, episode.content) : h("code", { title: id }, `message ${shortId(id)} (older than the newest 500)`),
          episode && h("small", {}, ` ${when(episode.validFromTime)}`),
        );
      }),
    ),
  );
}

function historyList(model: UserMemory, events: MemoryEvent[]): HTMLElement {
  return h(
    "ol",
    { class: "history" },
    events.map((event) => {
      const related = event.relatedMemoryId ? model.find(event.relatedMemoryId) : undefined;
      const job = event.extractionId ? model.extractions.get(event.extractionId) : undefined;
      return h(
        "li",
        { "data-event": eventWord(event.type) },
        h("time", {}, when(event.createTime)),
        " ",
        h("strong", {}, eventWord(event.type)),
        event.cause && `: ${event.cause}`,
        event.relatedMemoryId &&
          h("span", { class: "related" }, " (", related ? `“${related.content}”` : h("code", {}, shortId(event.relatedMemoryId)), ")"),
        confidenceChange(event),
        job && extractionLine(job),
      );
    }),
  );
}

function confidenceChange(event: MemoryEvent): HTMLElement | false {
  if (event.confidenceBefore === event.confidenceAfter) return false;
  // A new fact had no belief before; a deleted one has none after: one number says it.
  const text =
    event.type === MemoryEventType.CREATED
      ? `confidence ${percent(event.confidenceAfter)}`
      : event.type === MemoryEventType.DELETED
        ? `confidence was ${percent(event.confidenceBefore)}`
        : `confidence ${percent(event.confidenceBefore)} → ${percent(event.confidenceAfter)}`;
  return h("span", { class: "confidence" }, ` (${text})`);
}

function extractionLine(job: Extraction): HTMLElement {
  return h(
    "div",
    { class: "extraction", "data-extraction-id": job.id },
    `extraction job ${shortId(job.id)}: ${extractionWord(job.state)}`,
    job.model && `, ${job.model}`,
    job.reason && ` (${job.reason})`,
    `, ${job.facts.length} fact${job.facts.length === 1 ? "" : "s"}, ${job.messageIds.length} message${job.messageIds.length === 1 ? "" : "s"}`,
  );
}

/** What changed while the page watched, newest first. */
export function activityView(changes: Change[]): HTMLElement {
  if (changes.length === 0) return h("p", { class: "empty" }, "Nothing has changed since the page opened.");
  return h(
    "ol",
    { class: "activity" },
    changes.map((c) =>
      h("li", { "data-change": c.kind }, h("time", {}, c.time.toLocaleTimeString()), ` ${c.kind}: “${c.memory.content}”`),
    ),
  );
}

/** Recall hits with every part of the score, best first. */
export function recallView(query: string, hits: RecallHit[]): HTMLElement {
  if (hits.length === 0) return h("p", { class: "empty" }, `Nothing recalled for “${query}”.`);
  const columns = ["memory", "vector", "full text", "trigram", "fused", "× confidence", "× recency", "final"];
  return h(
    "table",
    { class: "hits" },
    h("caption", {}, `Recall for “${query}”`),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      hits.map(({ memory, score: s }) =>
        h(
          "tr",
          { "data-memory-id": memory?.id ?? "" },
          h(
            "td",
            {},
            h("span", { class: "kind" }, memory?.kind === MemoryKind.EPISODE ? "message" : "fact"),
            " ",
            memory?.content ?? "",
          ),
          [s?.vector, s?.fullText, s?.trigram, s?.fused, s?.confidenceWeight, s?.recencyWeight, s?.final].map((v) =>
            h("td", { class: "number" }, score(v ?? 0)),
          ),
        ),
      ),
    ),
  );
}

/** "employer: “works at Acme” → “works at Foo”": how a deletion changed its slot. */
export function slotChange(slot: string, before: Memory[], after: Memory[]): string {
  const names = (ms: Memory[]) => (ms.length ? ms.map((m) => `“${m.content}”`).join(", ") : "nothing");
  return `${slot}: ${names(before)} → ${names(after)}`;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const name = key(item);
    const group = groups.get(name);
    if (group) group.push(item);
    else groups.set(name, [item]);
  }
  return new Map([...groups].sort(([a], [b]) => a.localeCompare(b)));
}

function created(m: Memory): number {
  return Number(m.createTime?.seconds ?? 0n) * 1e3 + (m.createTime?.nanos ?? 0) / 1e6;
}

function newestFirst(a: Memory, b: Memory): number {
  return created(b) - created(a);
}

function bySlotThenNewest(a: Memory, b: Memory): number {
  return a.slot.localeCompare(b.slot) || newestFirst(a, b);
}
