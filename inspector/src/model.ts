/**
 * What the page knows about one user's memory, refreshed by polling ListMemories.
 *
 * Live updates poll ListMemories (every POLL_MS while the tab is visible) rather than following
 * extraction jobs: facts arrive from extraction jobs, AddMemories and other clients alike, and
 * only the list sees them all. Deleted facts are gone from ListMemories (the server keeps only
 * their events), so a fact this tab saw and no longer finds is kept here as deleted, and its
 * history (GetMemoryHistory still answers for it) says who deleted it.
 */

import type { Extraction, Memoire, Memory, MemoryEvent } from "@memoire/client";
import { ExtractionState } from "@memoire/client";

export const POLL_MS = 2_000;
/** Enough for a person to read; a user with more facts than this pages through the API instead. */
const MAX_PAGES = 10;
const PAGE_SIZE = 500;

/** One change between two polls, for the activity feed. */
export interface Change {
  time: Date;
  kind: "new" | "no longer current" | "current again" | "deleted";
  memory: Memory;
}

export class UserMemory {
  /** Facts that hold now (ListMemories with current_view_only). */
  current: Memory[] = [];
  /** Every stored fact: current, superseded, retracted, past and planned. */
  all: Memory[] = [];
  /** Facts seen by this tab and since deleted, by id. */
  readonly deleted = new Map<string, Memory>();
  /** Source messages (the episodes that store them), by message id. */
  readonly messages = new Map<string, Memory>();
  /** Ids first seen by the latest poll, highlighted until the next one. */
  fresh = new Set<string>();
  /** Changes seen while watching, newest first. */
  readonly changes: Change[] = [];
  /** When the shown data was read. */
  refreshTime: Date | undefined;
  /** Histories the person opened, by memory id, reloaded on every poll. */
  readonly histories = new Map<string, MemoryEvent[]>();
  /** Extraction jobs named by the histories shown, by id; polled until they finish. */
  readonly extractions = new Map<string, Extraction>();

  private readonly seen = new Map<string, Memory>();
  private loaded = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: Memoire,
    /** The user named on every call; empty with a user key (the key names its user). */
    readonly userId: string,
  ) {}

  /** Any fact this tab has seen, deleted ones included. */
  find(id: string): Memory | undefined {
    return this.seen.get(id);
  }

  /** Reloads everything shown; calls made meanwhile wait their turn, so changes are counted once. */
  refresh(): Promise<void> {
    const next = (this.running ?? Promise.resolve()).catch(() => undefined).then(() => this.load());
    this.running = next;
    return next;
  }

  private async load(): Promise<void> {
    const [current, all, episodes] = await Promise.all([
      this.list({ kind: "fact", currentViewOnly: true }),
      this.list({ kind: "fact" }),
      // One page: the newest messages; older sources are shown by id.
      this.client.listMemories({ ...this.user(), kind: "episode", pageSize: PAGE_SIZE }),
    ]);
    this.noteChanges(current, all);
    this.current = current;
    this.all = all;
    for (const episode of episodes.memories) {
      for (const messageId of episode.sourceMessageIds) this.messages.set(messageId, episode);
    }
    await Promise.all([...this.histories.keys()].map((id) => this.loadHistory(id)));
    await this.pollExtractions();
    this.refreshTime = new Date();
  }

  async loadHistory(memoryId: string): Promise<MemoryEvent[]> {
    const { events } = await this.client.memory.getMemoryHistory({ memoryId, pageSize: 100 });
    this.histories.set(memoryId, events);
    for (const event of events) {
      if (event.extractionId && !this.extractions.has(event.extractionId)) {
        const { extraction } = await this.client.memory.getExtraction({ extractionId: event.extractionId });
        if (extraction) this.extractions.set(extraction.id, extraction);
      }
    }
    return events;
  }

  closeHistory(memoryId: string): void {
    this.histories.delete(memoryId);
  }

  /** Deletes a fact as a correction; returns the slot's current facts before and after. */
  async delete(memory: Memory): Promise<{ before: Memory[]; after: Memory[] }> {
    const before = this.currentInSlot(memory.slot);
    await this.client.memory.deleteMemory({ memoryId: memory.id });
    await this.refresh();
    return { before, after: this.currentInSlot(memory.slot) };
  }

  currentInSlot(slot: string): Memory[] {
    return slot ? this.current.filter((m) => m.slot === slot) : [];
  }

  private user(): { userId?: string } {
    return this.userId ? { userId: this.userId } : {};
  }

  private async list(filter: { kind: "fact"; currentViewOnly?: boolean }): Promise<Memory[]> {
    const memories: Memory[] = [];
    let pageToken = "";
    for (let page = 0; page < MAX_PAGES; page++) {
      const reply = await this.client.listMemories({ ...this.user(), ...filter, pageSize: PAGE_SIZE, pageToken });
      memories.push(...reply.memories);
      pageToken = reply.nextPageToken;
      if (!pageToken) break;
    }
    return memories;
  }

  private noteChanges(current: Memory[], all: Memory[]): void {
    const now = new Date();
    const wasCurrent = new Set(this.current.map((m) => m.id));
    const isCurrent = new Set(current.map((m) => m.id));
    const stored = new Set(all.map((m) => m.id));
    const changes: Change[] = [];
    this.fresh = new Set();
    for (const memory of all) {
      const known = this.seen.has(memory.id);
      if (!known && this.loaded) {
        this.fresh.add(memory.id);
        changes.push({ time: now, kind: "new", memory });
      } else if (known && wasCurrent.has(memory.id) && !isCurrent.has(memory.id)) {
        changes.push({ time: now, kind: "no longer current", memory });
      } else if (known && !wasCurrent.has(memory.id) && isCurrent.has(memory.id)) {
        changes.push({ time: now, kind: "current again", memory });
      }
      this.seen.set(memory.id, memory);
      this.deleted.delete(memory.id);
    }
    for (const [id, memory] of this.seen) {
      if (!stored.has(id) && !this.deleted.has(id)) {
        this.deleted.set(id, memory);
        changes.push({ time: now, kind: "deleted", memory });
      }
    }
    this.changes.unshift(...changes);
    this.changes.splice(50);
    this.loaded = true;
  }

  private async pollExtractions(): Promise<void> {
    const running = [...this.extractions.values()].filter(
      (job) => job.state === ExtractionState.PENDING || job.state === ExtractionState.RUNNING,
    );
    for (const job of running) {
      const { extraction } = await this.client.memory.getExtraction({ extractionId: job.id });
      if (extraction) this.extractions.set(extraction.id, extraction);
    }
  }
}
