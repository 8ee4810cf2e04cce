/** Words and numbers for what the API returns: states, event types, times, scores. */

import { ExtractionState, MemoryEventType, Polarity, TemporalState } from "@memoire/client";
import type { Memory } from "@memoire/client";

/** A protobuf Timestamp as the API sends it (seconds are int64, so a bigint). */
export interface TimestampLike {
  seconds: bigint;
  nanos: number;
}

export function toDate(time: TimestampLike | undefined): Date | undefined {
  if (time === undefined || (time.seconds === 0n && time.nanos === 0)) return undefined;
  return new Date(Number(time.seconds) * 1000 + Math.floor(time.nanos / 1_000_000));
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function when(time: TimestampLike | undefined): string {
  const date = toDate(time);
  return date ? DATE_TIME.format(date) : "—";
}

/** Where a fact stands, for the timeline's badge and the tests' selectors. */
export type FactState = "current" | "superseded" | "past" | "planned" | "deleted";

export function factState(memory: Memory, deleted: boolean): FactState {
  if (deleted) return "deleted";
  if (memory.current) return "current";
  if (memory.supersededBy || toDate(memory.supersedeTime) !== undefined) return "superseded";
  if (memory.temporalState === TemporalState.PLANNED) return "planned";
  if (memory.temporalState === TemporalState.PAST) return "past";
  // Not current and not retired by a newer fact: retracted (its valid_to is set).
  return "superseded";
}

export function percent(value: number): string {
  return `${Math.round(value * 100)}%`;
}

/** A score component: three decimals, enough to compare hits. */
export function score(value: number): string {
  return value.toFixed(3);
}

export function polarityWord(polarity: Polarity): string {
  return polarity === Polarity.NEGATIVE ? "denied" : "";
}

const EVENT_WORDS: Record<MemoryEventType, string> = {
  [MemoryEventType.UNSPECIFIED]: "event",
  [MemoryEventType.CREATED]: "created",
  [MemoryEventType.REFRESHED]: "restated",
  [MemoryEventType.SUPERSEDED]: "superseded",
  [MemoryEventType.DECAYED]: "decayed",
  [MemoryEventType.PROMOTED]: "marked essential",
  [MemoryEventType.DELETED]: "deleted",
  [MemoryEventType.RETRACTED]: "retracted",
  [MemoryEventType.DEMOTED]: "no longer essential",
  [MemoryEventType.RESTORED]: "restored",
};

export function eventWord(type: MemoryEventType): string {
  return EVENT_WORDS[type];
}

export function extractionWord(state: ExtractionState): string {
  return ExtractionState[state]?.toLowerCase() ?? "unknown";
}

/** The first characters of an id, enough to tell memories apart on screen. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
