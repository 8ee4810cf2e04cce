/**
 * `@memoire/client`: a small TypeScript client for Mémoire.
 *
 * `createMemoire()` talks gRPC straight to the server from Node (`transport: "grpc"`, HTTP/2)
 * or gRPC-web through Envoy from browsers (`transport: "grpc-web"`, fetch). The message and
 * service types are generated from `proto/memoire/v1` into `./gen` by `buf generate`.
 */

import { create } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { CallOptions, Client, Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";

import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { AccountService, CreateAppRequestSchema } from "./gen/memoire/v1/account_service_pb.js";
import type { CreateAppResponse } from "./gen/memoire/v1/account_service_pb.js";
import { MemoryKind, Role, TemporalState } from "./gen/memoire/v1/memory_pb.js";
import {
  AddMemoriesRequestSchema,
  AssistantDeltaSchema,
  ConsciousRequestSchema,
  ExportUserRequestSchema,
  FactInputSchema,
  ForgetUserRequestSchema,
  IngestRequestSchema,
  ListMemoriesRequestSchema,
  MemoryService,
  MessageInputSchema,
  ObserveChatRequestSchema,
  RecallRequestSchema,
  TurnEndSchema,
  TurnStartSchema,
} from "./gen/memoire/v1/memory_service_pb.js";
import type {
  AddMemoriesResponse,
  ConsciousResponse,
  ExportUserResponse,
  FactInput,
  ForgetUserResponse,
  IngestResponse,
  ListMemoriesResponse,
  MemoryUpdate,
  MessageInput,
  ObserveChatRequest,
  ObserveChatResponse,
  RecallResponse,
  TurnContext,
  TurnStored,
} from "./gen/memoire/v1/memory_service_pb.js";

export * from "./gen/memoire/v1/memory_pb.js";
export * from "./gen/memoire/v1/memory_service_pb.js";
export * from "./gen/memoire/v1/account_pb.js";
export * from "./gen/memoire/v1/account_service_pb.js";
export { ErrorInfoSchema, BadRequestSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";
export type { ErrorInfo, BadRequest, RetryInfo } from "./gen/google/rpc/error_details_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";

/** The default gRPC address, as for the Python client and the CLI. */
export const DEFAULT_TARGET = "127.0.0.1:50051";
/** The default deadline of a unary call. */
export const DEFAULT_TIMEOUT_MS = 30_000;

// --- options ---------------------------------------------------------------------------------

export interface MemoireOptions {
  /** `host:port` of the gRPC server (plaintext), e.g. `127.0.0.1:50051`. */
  target?: string;
  /** A URL instead of `target`: Envoy's for gRPC-web, or `https://host:port` of the server. */
  baseUrl?: string;
  /** Sent as `x-api-key` on every call; defaults to `MEMOIRE_API_KEY` in Node. */
  apiKey?: string;
  /**
   * `"grpc"`: HTTP/2 gRPC to the server (Node only; every RPC including ObserveChat).
   * `"grpc-web"`: gRPC-web over fetch through Envoy (browsers and Node; unary RPCs only).
   * `"connect"`: the Connect protocol (binary) over fetch through Envoy, which bridges it to
   * gRPC (browsers and Node; unary RPCs only).
   * Or any connect `Transport` (the API key is added to its calls; `interceptors` and `fetch`
   * are the transport's own business then). Defaults to `"grpc-web"` when only `baseUrl` is given, else `"grpc"`.
   */
  transport?: "grpc" | "grpc-web" | "connect" | Transport;
  /** Deadline of each unary call; default 30 s. Streams have none unless given one. */
  timeoutMs?: number;
  /** More connect interceptors, run after the one that adds the API key. */
  interceptors?: Interceptor[];
  /** The fetch of the gRPC-web and Connect transports; defaults to `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
}

/** Per-call options: deadline, cancellation, extra headers. */
export type MemoireCallOptions = Pick<CallOptions, "timeoutMs" | "signal" | "headers">;

export type RoleName = "user" | "assistant" | "system" | "tool";
export type KindName = "episode" | "fact";
export type TemporalName = "current" | "past" | "planned";
/** A time as a `Date` or a protobuf `Timestamp`. */
export type TimeLike = Date | Timestamp;

/** One chat message to ingest; `role` defaults to `"user"`. */
export interface MessageLike {
  role?: Role | RoleName;
  content: string;
  /** Your id for the message; re-sending it is a no-op. */
  clientMessageId?: string;
  createTime?: TimeLike;
  metadata?: Record<string, string>;
}

/** One fact to write: its statement alone, or every field of `FactInput`. */
export type FactLike =
  | string
  | {
      content: string;
      category?: string;
      slot?: string;
      value?: string;
      temporalState?: TemporalState | TemporalName;
      confidence?: number;
      essential?: boolean;
      validFromTime?: TimeLike;
      language?: string;
      metadata?: Record<string, string>;
      retract?: boolean;
    };

export interface IngestInput {
  /** Required with an app key; may be left out with a user key (likewise below). */
  userId?: string;
  sessionId?: string;
  messages: MessageLike[];
  skipExtraction?: boolean;
}

export interface AddMemoriesInput {
  userId?: string;
  facts: FactLike[];
  /** Your id for this write; a retry with the same id is a no-op. */
  requestId?: string;
}

export interface RecallInput {
  userId?: string;
  query: string;
  limit?: number;
  kinds?: (MemoryKind | KindName)[];
  categories?: string[];
  currentViewOnly?: boolean;
  asOfTime?: TimeLike;
  startTime?: TimeLike;
  endTime?: TimeLike;
  sessionId?: string;
}

export interface ConsciousInput {
  userId?: string;
  limit?: number;
}

export interface ListMemoriesInput {
  userId?: string;
  pageSize?: number;
  pageToken?: string;
  kind?: MemoryKind | KindName;
  category?: string;
  slot?: string;
  currentViewOnly?: boolean;
}

export interface ForgetUserInput {
  userId?: string;
}

export interface ExportUserInput {
  userId?: string;
}

/**
 * One record of an export, as `{ case, value }`: `"user"`, `"session"`, `"message"`, `"memory"`,
 * `"event"` or `"extraction"`.
 */
export type ExportItem = Exclude<ExportUserResponse["item"], { case: undefined }>;

export interface CreateAppInput {
  /** A unique name for the app, 1 to 128 characters. */
  name: string;
  /** A label for the app's first key. */
  keyName?: string;
}

/** Opens a turn of ObserveChat: the user's message, answered with a TurnContext. */
export interface TurnStartInput {
  turnId: string;
  userId?: string;
  sessionId?: string;
  userMessage: string;
  recallLimit?: number;
  createTime?: TimeLike;
}

export interface TurnEndInput {
  /** The full reply; when set it replaces the streamed deltas. */
  assistantMessage?: string;
  /** True when the reader stopped part-way; what was seen is stored. */
  abandoned?: boolean;
}

/** One server event of ObserveChat. */
export type ChatEvent =
  | { case: "context"; value: TurnContext }
  | { case: "stored"; value: TurnStored }
  | { case: "update"; value: MemoryUpdate };

// --- errors ----------------------------------------------------------------------------------

export interface FieldViolation {
  field: string;
  description: string;
}

/**
 * A failed call: a `ConnectError` (code, message, metadata, raw details) plus what the
 * server's `google.rpc.ErrorInfo` and `google.rpc.BadRequest` details say.
 * `instanceof ConnectError` holds; `name` stays `"ConnectError"` for connect's own checks.
 */
export class MemoireError extends ConnectError {
  /** The server's stable reason, e.g. `API_KEY_INVALID`, `NOT_FOUND`; empty if none was sent. */
  readonly reason: string;
  /** The ErrorInfo domain (`memoire.dev`); empty if none was sent. */
  readonly domain: string;
  /** The bad fields of an INVALID_ARGUMENT, e.g. `query` or `messages[0].content`. */
  readonly fieldViolations: FieldViolation[];
  /**
   * How long the server asked the caller to wait before trying again, in milliseconds
   * (`google.rpc.RetryInfo`): sent with RESOURCE_EXHAUSTED (reason `RATE_LIMITED` or
   * `AUTH_THROTTLED`) and UNAVAILABLE; undefined otherwise. The client does not retry by itself.
   */
  readonly retryDelayMs: number | undefined;

  constructor(error: ConnectError) {
    super(error.rawMessage, error.code, error.metadata, undefined, error.cause ?? error);
    this.details = error.details.map(bareTypeName);
    const info = this.findDetails(ErrorInfoSchema)[0];
    this.reason = info?.reason ?? "";
    this.domain = info?.domain ?? "";
    this.fieldViolations = this
      .findDetails(BadRequestSchema)
      .flatMap((bad) => bad.fieldViolations)
      .map(({ field, description }) => ({ field, description }));
    const retry = this.findDetails(RetryInfoSchema)[0]?.retryDelay;
    this.retryDelayMs = retry ? durationMs(retry) : undefined;
  }

  /** Plain prototype check: ConnectError's own duck-typed check would accept any ConnectError. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /** Any thrown value as a MemoireError (a ConnectError with the server's reason). */
  static override from(value: unknown): MemoireError {
    if (value instanceof MemoireError) {
      return value;
    }
    return new MemoireError(ConnectError.from(value));
  }
}

/**
 * An error detail named as the Connect protocol names it (`google.rpc.ErrorInfo`): Envoy's
 * Connect-gRPC bridge passes on the full type URL (`type.googleapis.com/google.rpc.ErrorInfo`),
 * which `findDetails` would not recognise.
 */
function bareTypeName(detail: ConnectError["details"][number]): ConnectError["details"][number] {
  if (!("type" in detail)) {
    return detail;
  }
  return { ...detail, type: detail.type.replace(/^type\.googleapis\.com\//, "") };
}

/** The ErrorInfo reason of any error from a Mémoire call ("" when there is none). */
export function errorReason(error: unknown): string {
  return error instanceof ConnectError ? MemoireError.from(error).reason : "";
}

// --- the client ------------------------------------------------------------------------------

export interface Memoire {
  /** Every MemoryService RPC, as generated. */
  readonly memory: Client<typeof MemoryService>;
  /** Every AccountService RPC, as generated. */
  readonly accounts: Client<typeof AccountService>;
  /** Store messages verbatim, recallable at once; queue fact extraction. */
  ingest(input: IngestInput, options?: MemoireCallOptions): Promise<IngestResponse>;
  /** Write structured facts directly, with slot supersession. */
  addMemories(input: AddMemoriesInput, options?: MemoireCallOptions): Promise<AddMemoriesResponse>;
  /** The memories most relevant to a query, best first. */
  recall(input: RecallInput, options?: MemoireCallOptions): Promise<RecallResponse>;
  /** The user's essential facts and a prompt block built from them. */
  conscious(input?: ConsciousInput, options?: MemoireCallOptions): Promise<ConsciousResponse>;
  /** One page of a user's memories, newest first. */
  listMemories(input?: ListMemoriesInput, options?: MemoireCallOptions): Promise<ListMemoriesResponse>;
  /** Erase every message, memory, event and job of one user. */
  forgetUser(input?: ForgetUserInput, options?: MemoireCallOptions): Promise<ForgetUserResponse>;
  /**
   * Everything stored about a user, streamed from one snapshot as it is read: the user first,
   * then sessions, messages, memories (superseded ones too), their events and extractions.
   * The call starts when the iteration does, which throws a `MemoireError` if it fails
   * (`NotFound` for an unknown user). Like every stream it has no deadline unless given one.
   */
  exportUser(input?: ExportUserInput, options?: MemoireCallOptions): AsyncIterable<ExportItem>;
  /**
   * Register an app (a tenant) and issue its first app key, whose secret is in the response
   * and nowhere else. Needs the server's admin key (`MEMOIRE_ADMIN_KEY` on the server) as the
   * client's `apiKey` or in the call's headers (`{ headers: { "x-api-key": adminKey } }`),
   * unless the server allows open sign-up.
   */
  createApp(input: CreateAppInput, options?: MemoireCallOptions): Promise<CreateAppResponse>;
  /** Open an ObserveChat stream (transport "grpc" only). */
  observeChat(options?: MemoireCallOptions): ChatStream;
  /** Close the HTTP/2 connection of the "grpc" transport (idle connections never keep Node alive). */
  close(): void;
}

/** A client of one Mémoire server. */
export function createMemoire(options: MemoireOptions = {}): Memoire {
  const env = nodeEnv();
  const apiKey = options.apiKey ?? env["MEMOIRE_API_KEY"] ?? "";
  const kind =
    options.transport ?? (options.baseUrl !== undefined && options.target === undefined ? "grpc-web" : "grpc");
  const interceptors: Interceptor[] = [apiKeyInterceptor(apiKey), ...(options.interceptors ?? [])];
  let transport: Transport;
  let close = (): void => {};
  if (typeof kind !== "string") {
    transport = withApiKey(kind, apiKey);
  } else {
    const baseUrl = baseUrlOf(options, env);
    if (kind === "grpc-web") {
      transport = createGrpcWebTransport({
        baseUrl,
        interceptors,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
    } else if (kind === "connect") {
      // Binary: Envoy's Connect bridge hands the message to the server as gRPC, which the
      // server only reads as protobuf.
      transport = createConnectTransport({
        baseUrl,
        interceptors,
        useBinaryFormat: true,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
    } else if (kind === "grpc") {
      const grpc = lazyGrpcTransport(baseUrl, interceptors);
      transport = grpc.transport;
      close = grpc.close;
    } else {
      throw new ConnectError(
        `unknown transport ${String(kind)}; use "grpc", "grpc-web" or "connect"`,
        Code.InvalidArgument,
      );
    }
  }
  const memory = createClient(MemoryService, transport);
  const accounts = createClient(AccountService, transport);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const call = <T>(run: (o: CallOptions) => Promise<T>, o: MemoireCallOptions | undefined): Promise<T> =>
    run({ timeoutMs, ...o }).catch((error: unknown) => {
      throw MemoireError.from(error);
    });

  return {
    memory,
    accounts,
    ingest: (input, o) =>
      call(
        (co) =>
          memory.ingest(
            create(IngestRequestSchema, {
              userId: input.userId ?? "",
              sessionId: input.sessionId ?? "",
              messages: input.messages.map(messageInput),
              skipExtraction: input.skipExtraction ?? false,
            }),
            co,
          ),
        o,
      ),
    addMemories: (input, o) =>
      call(
        (co) =>
          memory.addMemories(
            create(AddMemoriesRequestSchema, {
              userId: input.userId ?? "",
              facts: input.facts.map(factInput),
              requestId: input.requestId ?? "",
            }),
            co,
          ),
        o,
      ),
    recall: (input, o) =>
      call(
        (co) =>
          memory.recall(
            create(RecallRequestSchema, {
              userId: input.userId ?? "",
              query: input.query,
              limit: input.limit ?? 0,
              kinds: (input.kinds ?? []).map(kindOf),
              categories: input.categories ?? [],
              currentViewOnly: input.currentViewOnly ?? false,
              asOfTime: timestamp(input.asOfTime),
              startTime: timestamp(input.startTime),
              endTime: timestamp(input.endTime),
              sessionId: input.sessionId ?? "",
            }),
            co,
          ),
        o,
      ),
    conscious: (input = {}, o) =>
      call(
        (co) =>
          memory.conscious(
            create(ConsciousRequestSchema, { userId: input.userId ?? "", limit: input.limit ?? 0 }),
            co,
          ),
        o,
      ),
    listMemories: (input = {}, o) =>
      call(
        (co) =>
          memory.listMemories(
            create(ListMemoriesRequestSchema, {
              userId: input.userId ?? "",
              pageSize: input.pageSize ?? 0,
              pageToken: input.pageToken ?? "",
              kind: kindOf(input.kind ?? MemoryKind.UNSPECIFIED),
              category: input.category ?? "",
              slot: input.slot ?? "",
              currentViewOnly: input.currentViewOnly ?? false,
            }),
            co,
          ),
        o,
      ),
    forgetUser: (input = {}, o) =>
      call(
        (co) => memory.forgetUser(create(ForgetUserRequestSchema, { userId: input.userId ?? "" }), co),
        o,
      ),
    exportUser: (input = {}, o) => exportItems(memory, input, o ?? {}),
    createApp: (input, o) =>
      call(
        (co) =>
          accounts.createApp(create(CreateAppRequestSchema, { name: input.name, keyName: input.keyName ?? "" }), co),
        o,
      ),
    observeChat: (o) => {
      if (kind === "grpc-web" || kind === "connect") {
        throw new MemoireError(
          new ConnectError(
            `ObserveChat is a bidirectional stream, which ${kind} over fetch cannot carry; use transport "grpc"`,
            Code.Unimplemented,
          ),
        );
      }
      return new ChatStream(memory, o ?? {});
    },
    close: () => close(),
  };
}

// --- ExportUser ------------------------------------------------------------------------------

/** The items of an export; the call is made on the first `next()`, so an unread export costs nothing. */
async function* exportItems(
  memory: Client<typeof MemoryService>,
  input: ExportUserInput,
  options: MemoireCallOptions,
): AsyncGenerator<ExportItem> {
  const request = create(ExportUserRequestSchema, { userId: input.userId ?? "" });
  try {
    for await (const response of memory.exportUser(request, options)) {
      if (response.item.case !== undefined) {
        yield response.item;
      }
    }
  } catch (error) {
    throw MemoireError.from(error);
  }
}

// --- ObserveChat -----------------------------------------------------------------------------

/**
 * One ObserveChat stream. Send with `start` / `delta` / `end`, half-close with `close`; read
 * every server event with `for await`, or just await what `start` and `end` return.
 *
 * Events are read as they come whether or not you iterate (so `start` and `end` can resolve);
 * iterate at most once. When the stream fails, the iteration throws a `MemoireError` and every
 * pending `start` / `end` rejects with it.
 */
export class ChatStream implements AsyncIterable<ChatEvent> {
  private readonly requests = new AsyncQueue<ObserveChatRequest>();
  private readonly events = new AsyncQueue<ChatEvent>();
  private readonly waiting = new Map<string, Waiter<TurnContext | TurnStored>>();
  private readonly abort = new AbortController();
  private failure: MemoireError | undefined;
  private iterated = false;
  /** Settles when the server has ended the stream: resolves on success, rejects on failure. */
  readonly done: Promise<void>;

  constructor(memory: Client<typeof MemoryService>, options: MemoireCallOptions) {
    const signal = options.signal ? anySignal(options.signal, this.abort.signal) : this.abort.signal;
    const responses = memory.observeChat(this.requests, { ...options, signal });
    this.done = this.pump(responses);
    this.done.catch(() => {}); // reported through start/end/iteration; never unhandled
  }

  /** Open a turn; resolves with its TurnContext (the memory to show the model). */
  start(turn: TurnStartInput): Promise<TurnContext> {
    return this.request<TurnContext>(`context:${turn.turnId}`, {
      case: "start",
      value: create(TurnStartSchema, {
        turnId: turn.turnId,
        userId: turn.userId ?? "",
        sessionId: turn.sessionId ?? "",
        userMessage: turn.userMessage,
        recallLimit: turn.recallLimit ?? 0,
        createTime: timestamp(turn.createTime),
      }),
    });
  }

  /** Forward the next piece of the assistant's reply. */
  delta(turnId: string, text: string): void {
    this.send({ case: "delta", value: create(AssistantDeltaSchema, { turnId, text }) });
  }

  /** Close a turn; resolves once the server has stored it. */
  end(turnId: string, input: TurnEndInput = {}): Promise<TurnStored> {
    return this.request<TurnStored>(`stored:${turnId}`, {
      case: "end",
      value: create(TurnEndSchema, {
        turnId,
        assistantMessage: input.assistantMessage ?? "",
        abandoned: input.abandoned ?? false,
      }),
    });
  }

  /** Half-close: no more turns. The server sends pending updates, then ends the stream. */
  close(): void {
    this.requests.close();
  }

  /** Stop at once (the server stores what open turns saw). */
  cancel(): void {
    this.requests.close();
    this.abort.abort();
  }

  [Symbol.asyncIterator](): AsyncIterator<ChatEvent> {
    if (this.iterated) {
      throw new Error("a ChatStream can be iterated only once");
    }
    this.iterated = true;
    return this.events[Symbol.asyncIterator]();
  }

  private send(event: ObserveChatRequest["event"]): void {
    if (this.failure) {
      throw this.failure;
    }
    if (!this.requests.push(create(ObserveChatRequestSchema, { event }))) {
      throw new MemoireError(new ConnectError("the stream is closed for sending", Code.FailedPrecondition));
    }
  }

  /** Send an event and wait for the server's answer to it (by kind and turn id). */
  private request<T extends TurnContext | TurnStored>(key: string, event: ObserveChatRequest["event"]): Promise<T> {
    const promise = new Promise<T>((resolve, reject) => {
      this.waiting.set(key, { resolve: resolve as (value: TurnContext | TurnStored) => void, reject });
      try {
        this.send(event);
      } catch (error) {
        this.waiting.delete(key);
        reject(error);
      }
    });
    promise.catch(() => {}); // the caller may ignore it; the iteration reports the failure too
    return promise;
  }

  private async pump(responses: AsyncIterable<ObserveChatResponse>): Promise<void> {
    try {
      for await (const response of responses) {
        const event = response.event;
        if (event.case === undefined) {
          continue;
        }
        if (event.case === "context" || event.case === "stored") {
          const key = `${event.case}:${event.value.turnId}`;
          this.waiting.get(key)?.resolve(event.value);
          this.waiting.delete(key);
        }
        this.events.push(event);
      }
      this.events.close();
      const unanswered = new MemoireError(
        new ConnectError("the stream ended before the server answered", Code.Aborted),
      );
      this.fail(unanswered, false);
    } catch (error) {
      this.fail(MemoireError.from(error), true);
      throw this.failure;
    } finally {
      this.requests.close();
    }
  }

  private fail(error: MemoireError, streamFailed: boolean): void {
    if (streamFailed) {
      this.failure = error;
      this.events.fail(error);
    }
    for (const waiter of this.waiting.values()) {
      waiter.reject(error);
    }
    this.waiting.clear();
  }
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/** A queue read by one async iterator: push, close, or fail. Ending the iteration early
 * (`break`) ends the queue: later items are dropped. */
class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly readers: Waiter<IteratorResult<T>>[] = [];
  private ended = false;
  private error: unknown = undefined;

  /** Queue an item; false (and dropped) once the queue has ended. */
  push(item: T): boolean {
    if (this.ended) {
      return false;
    }
    const reader = this.readers.shift();
    if (reader) {
      reader.resolve({ value: item, done: false });
    } else {
      this.items.push(item);
    }
    return true;
  }

  close(): void {
    this.end(undefined);
  }

  fail(error: unknown): void {
    this.end(error ?? new Error("failed"));
  }

  private end(error: unknown): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    this.error = error;
    for (const reader of this.readers.splice(0)) {
      if (error === undefined) {
        reader.resolve({ value: undefined, done: true });
      } else {
        reader.reject(error);
      }
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: (): Promise<IteratorResult<T>> => {
        if (this.items.length > 0) {
          return Promise.resolve({ value: this.items.shift() as T, done: false });
        }
        if (this.ended) {
          return this.error === undefined
            ? Promise.resolve({ value: undefined, done: true })
            : Promise.reject(this.error);
        }
        return new Promise((resolve, reject) => this.readers.push({ resolve, reject }));
      },
      // Like a generator's: return() stops reading; throw(e) ends the queue with e (connect
      // aborts a request stream this way when the call fails).
      return: (): Promise<IteratorResult<T>> => {
        this.items.length = 0;
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
      throw: (error: unknown): Promise<IteratorResult<T>> => {
        this.items.length = 0;
        this.fail(error);
        return Promise.reject(error);
      },
    };
  }
}

// --- helpers ---------------------------------------------------------------------------------

const ROLES: Record<RoleName, Role> = {
  user: Role.USER,
  assistant: Role.ASSISTANT,
  system: Role.SYSTEM,
  tool: Role.TOOL,
};
const KINDS: Record<KindName, MemoryKind> = { episode: MemoryKind.EPISODE, fact: MemoryKind.FACT };
const TEMPORAL: Record<TemporalName, TemporalState> = {
  current: TemporalState.CURRENT,
  past: TemporalState.PAST,
  planned: TemporalState.PLANNED,
};

function kindOf(kind: MemoryKind | KindName): MemoryKind {
  return typeof kind === "string" ? KINDS[kind] : kind;
}

function timestamp(time: TimeLike | undefined): Timestamp | undefined {
  return time instanceof Date ? timestampFromDate(time) : time;
}

function messageInput(m: MessageLike): MessageInput {
  const role = m.role ?? "user";
  return create(MessageInputSchema, {
    role: typeof role === "string" ? ROLES[role] : role,
    content: m.content,
    clientMessageId: m.clientMessageId ?? "",
    createTime: timestamp(m.createTime),
    metadata: m.metadata ?? {},
  });
}

function factInput(f: FactLike): FactInput {
  if (typeof f === "string") {
    return create(FactInputSchema, { content: f });
  }
  const state = f.temporalState ?? TemporalState.UNSPECIFIED;
  return create(FactInputSchema, {
    content: f.content,
    category: f.category ?? "",
    slot: f.slot ?? "",
    value: f.value ?? "",
    temporalState: typeof state === "string" ? TEMPORAL[state] : state,
    confidence: f.confidence ?? 0,
    essential: f.essential ?? false,
    validFromTime: timestamp(f.validFromTime),
    language: f.language ?? "",
    metadata: f.metadata ?? {},
    retract: f.retract ?? false,
  });
}

/** Adds `x-api-key` unless the call carries a key of its own (`x-api-key` or `authorization`). */
function addApiKey(header: Headers, apiKey: string): Headers {
  if (apiKey && !header.has("x-api-key") && !header.has("authorization")) {
    header.set("x-api-key", apiKey);
  }
  return header;
}

function apiKeyInterceptor(apiKey: string): Interceptor {
  return (next) => (request) => {
    addApiKey(request.header, apiKey);
    return next(request);
  };
}

/** A caller's own transport, with the API key on every call. */
function withApiKey(transport: Transport, apiKey: string): Transport {
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.unary(method, signal, timeoutMs, addApiKey(new Headers(header), apiKey), input, contextValues),
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.stream(method, signal, timeoutMs, addApiKey(new Headers(header), apiKey), input, contextValues),
  };
}

function baseUrlOf(options: MemoireOptions, env: Record<string, string | undefined>): string {
  if (options.baseUrl !== undefined) {
    return options.baseUrl.replace(/\/+$/, "");
  }
  const target = options.target ?? env["MEMOIRE_TARGET"] ?? DEFAULT_TARGET;
  return target.includes("://") ? target.replace(/\/+$/, "") : `http://${target}`;
}

/** `process.env` in Node; nothing in browsers. */
function nodeEnv(): Record<string, string | undefined> {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env ?? {};
}

/**
 * The Node gRPC transport, loaded on first use so that browser bundles never need
 * `@connectrpc/connect-node` (and `node:http2`).
 */
function lazyGrpcTransport(baseUrl: string, interceptors: Interceptor[]): { transport: Transport; close: () => void } {
  let closed = false;
  let loaded: Promise<{ transport: Transport; close: () => void }> | undefined;
  const load = () =>
    (loaded ??= import("@connectrpc/connect-node").then(({ createGrpcTransport, Http2SessionManager }) => {
      // Bundlers replace the module with an empty one in browsers (package.json "browser").
      if (typeof createGrpcTransport !== "function") {
        throw new ConnectError('transport "grpc" needs Node; in browsers use "grpc-web"', Code.Unimplemented);
      }
      const sessionManager = new Http2SessionManager(baseUrl);
      return {
        transport: createGrpcTransport({ baseUrl, interceptors, sessionManager }),
        close: () => sessionManager.abort(),
      };
    }));
  const ready = async (): Promise<Transport> => {
    if (closed) {
      throw new ConnectError("the client is closed", Code.FailedPrecondition);
    }
    return (await load()).transport;
  };
  return {
    transport: {
      unary: async (...args) => (await ready()).unary(...args),
      stream: async (...args) => (await ready()).stream(...args),
    },
    close: () => {
      closed = true;
      void loaded?.then((t) => t.close());
    },
  };
}

/** An AbortSignal that fires when either does (AbortSignal.any is Node 20.3+). */
function anySignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  const controller = new AbortController();
  for (const signal of [a, b]) {
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}
