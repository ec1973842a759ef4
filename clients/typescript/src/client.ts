import type { AnyApi, ApiShape, PushName, ReplyData, ReplyingName, RequestData, RequestName } from "./api.js";
import { backoff, delayMs, FINAL_CLOSE_CODES, type Backoff, type ReconnectOptions } from "./backoff.js";
import { ClientError, ReplyError } from "./errors.js";
import { Positions, type Position } from "./rooms.js";
import { host, reportError, type WebSocketConstructor, type WebSocketLike } from "./socket.js";

/** The client's state. */
export type State = "connecting" | "open" | "reconnecting" | "closed";

/** The names of the envelope's fields (the server's `EventFields`). */
export interface EventFields {
  event: string;
  data: string;
  id: string;
  error: string;
}

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Reconnect policy, or `false` to never reconnect (default: jittered exponential backoff). */
  reconnect?: ReconnectOptions | false;
  /** Timeout of a request without its own, in ms (default 10 000). */
  requestTimeoutMs?: number;
  /** Messages kept while disconnected, sent in order on the next open (default 100). */
  maxBuffered?: number;
  /** The envelope's field names, when the server renamed them. */
  fields?: Partial<EventFields>;
  /** The WebSocket constructor (default: the global `WebSocket`). */
  WebSocket?: WebSocketConstructor;
}

/** Options of one request. */
export interface RequestOptions {
  /** This request's timeout, in ms. */
  timeoutMs?: number;
}

/** Where a room push sits in its room's history; absent fields for pushes without history. */
export interface PushMeta {
  room?: string;
  epoch?: string;
  offset?: number;
}

/** What a `$joined` carrying `recovered` says: the room's missed pushes were replayed or lost. */
export interface Recovery {
  room: string;
  /** False: the pushes missed while away are lost; refetch the room's state. */
  recovered: boolean;
  /** How many pushes were replayed. */
  missed: number;
  epoch: string;
  offset: number;
}

/** A close of the connection, as the server or the network ended it. */
export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
  /** True when the client will reconnect. */
  reconnecting: boolean;
}

type Listener<T> = (value: T) => void;
type PushHandler = (data: unknown, meta: PushMeta) => void;

interface Pending {
  event: string;
  resolve(data: unknown): void;
  reject(error: Error): void;
  timer: unknown;
  sent: boolean;
}

const OPEN = 1;
const DEFAULT_FIELDS: EventFields = { event: "event", data: "data", id: "id", error: "error" };

/**
 * A connection to a ws-controller endpoint speaking the event protocol, with reconnects,
 * requests and room recovery. Create it with {@link connect}.
 */
export class Client<Api extends ApiShape = AnyApi> {
  private readonly url: string;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly policy: Backoff | false;
  private readonly requestTimeoutMs: number;
  private readonly maxBuffered: number;
  private readonly fields: EventFields;
  private readonly positions = new Positions();
  private readonly handlers = new Map<string, Set<PushHandler>>();
  private readonly stateListeners = new Set<Listener<State>>();
  private readonly recoveryListeners = new Set<Listener<Recovery>>();
  private readonly closeListeners = new Set<Listener<CloseInfo>>();
  private readonly pending = new Map<number, Pending>();
  private readonly buffer: { text: string; id?: number }[] = [];
  private ws: WebSocketLike | undefined;
  private current: State = "connecting";
  private nextId = 1;
  private attempt = 0;
  private openedAt = 0;
  private retryTimer: unknown;

  constructor(url: string, options: ConnectOptions = {}) {
    const WebSocketImpl = options.WebSocket ?? host.WebSocket;
    if (!WebSocketImpl) {
      throw new TypeError("no WebSocket: pass options.WebSocket (Node 20 needs --experimental-websocket or the `ws` package)");
    }
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    this.policy = options.reconnect === false ? false : backoff(options.reconnect);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.maxBuffered = Math.max(0, options.maxBuffered ?? 100);
    this.fields = { ...DEFAULT_FIELDS, ...options.fields };
    this.open();
  }

  /** The current state. */
  get state(): State {
    return this.current;
  }

  /** Each room's position (epoch, last delivered offset), e.g. to persist across page loads. */
  rooms(): [string, Position][] {
    return this.positions.entries();
  }

  /** Calls `handler` for every push of `event`; returns the function that removes it. */
  on<E extends PushName<Api>>(event: E, handler: (data: Api["pushes"][E], meta: PushMeta) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    const h = handler as PushHandler;
    set.add(h);
    return () => {
      set.delete(h);
    };
  }

  /** Calls `listener` on every state change; returns the function that removes it. */
  onState(listener: Listener<State>): () => void {
    return subscribe(this.stateListeners, listener);
  }

  /** Calls `listener` for every `$joined` that says whether a room's missed pushes came back. */
  onRecovery(listener: Listener<Recovery>): () => void {
    return subscribe(this.recoveryListeners, listener);
  }

  /** Calls `listener` for every close of the underlying connection. */
  onClose(listener: Listener<CloseInfo>): () => void {
    return subscribe(this.closeListeners, listener);
  }

  /**
   * Sends `event` without an id (no reply). While disconnected it is buffered (bounded by
   * `maxBuffered`); returns false when it was dropped (buffer full, or the client is closed).
   */
  emit<E extends RequestName<Api>>(event: E, data: RequestData<Api, E>): boolean {
    if (this.current === "closed") {
      return false;
    }
    return this.send(this.encode(event, data));
  }

  /**
   * Sends `event` with an id and resolves with the reply's data. Rejects with a
   * {@link ReplyError} for the server's error reply, or a {@link ClientError} (timeout, the
   * connection dropped after it was sent, buffer full, client closed).
   */
  request<E extends ReplyingName<Api>>(
    event: E,
    data: RequestData<Api, E>,
    options?: RequestOptions,
  ): Promise<ReplyData<Api, E>> {
    return new Promise<ReplyData<Api, E>>((resolve, reject) => {
      if (this.current === "closed") {
        reject(new ClientError(event, "closed", "the client is closed"));
        return;
      }
      const id = this.nextId++;
      const timeoutMs = options?.timeoutMs ?? this.requestTimeoutMs;
      const entry: Pending = {
        event,
        resolve: resolve as (data: unknown) => void,
        reject,
        sent: false,
        timer: host.setTimeout(() => {
          this.forget(id);
          reject(new ClientError(event, "timeout", `no reply within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.pending.set(id, entry);
      if (!this.send(this.encode(event, data, id), id)) {
        this.forget(id);
        reject(new ClientError(event, "buffer_full", `disconnected and ${this.maxBuffered} messages are already buffered`));
      }
    });
  }

  /** Closes the connection for good (1000): no reconnect; pending requests reject with `closed`. */
  close(code = 1000, reason = ""): void {
    if (this.current === "closed") {
      return;
    }
    host.clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      detach(ws);
      ws.close(code, reason);
    }
    this.finish();
  }

  private encode(event: string, data: unknown, id?: number): string {
    const envelope: Record<string, unknown> = { [this.fields.event]: event };
    if (data !== undefined) {
      envelope[this.fields.data] = data;
    }
    if (id !== undefined) {
      envelope[this.fields.id] = id;
    }
    return JSON.stringify(envelope);
  }

  private send(text: string, id?: number): boolean {
    if (this.ws && this.ws.readyState === OPEN && this.current === "open") {
      this.ws.send(text);
      this.markSent(id);
      return true;
    }
    if (this.buffer.length >= this.maxBuffered) {
      return false;
    }
    this.buffer.push(id === undefined ? { text } : { text, id });
    return true;
  }

  private markSent(id: number | undefined): void {
    const entry = id === undefined ? undefined : this.pending.get(id);
    if (entry) {
      entry.sent = true;
    }
  }

  private open(): void {
    const ws = new this.WebSocketImpl(this.positions.urlWithSince(this.url));
    this.ws = ws;
    ws.onopen = () => {
      this.openedAt = Date.now();
      this.setState("open");
      for (const { text, id } of this.buffer.splice(0)) {
        ws.send(text);
        this.markSent(id);
      }
    };
    ws.onmessage = (event) => {
      if (typeof event.data === "string") {
        this.receive(event.data);
      }
    };
    ws.onclose = (event) => this.closed(ws, event.code, event.reason, event.wasClean);
    // An error is followed by a close, which decides what happens; but Node 20's WebSocket
    // fires no close when the connection attempt fails, so a failed attempt counts as 1006.
    ws.onerror = () => {
      if (this.current !== "open" && ws === this.ws) {
        this.closed(ws, 1006, "", false);
        ws.close();
      }
    };
  }

  private closed(ws: WebSocketLike, code: number, reason: string, wasClean: boolean): void {
    if (ws !== this.ws) {
      return;
    }
    detach(ws);
    this.ws = undefined;
    for (const [id, entry] of this.pending) {
      if (entry.sent) {
        this.forget(id);
        entry.reject(new ClientError(entry.event, "disconnected", `the connection closed (${code}) before the reply`));
      }
    }
    const policy = this.policy;
    if (policy && this.openedAt > 0 && Date.now() - this.openedAt >= policy.stableAfterMs) {
      this.attempt = 0;
    }
    this.openedAt = 0;
    const reconnecting = policy !== false && !FINAL_CLOSE_CODES.has(code) && this.attempt < policy.maxAttempts;
    emitTo(this.closeListeners, { code, reason, wasClean, reconnecting });
    if (!reconnecting || !policy) {
      this.finish();
      return;
    }
    this.setState("reconnecting");
    const delay = delayMs(policy, this.attempt++);
    this.retryTimer = host.setTimeout(() => {
      if (this.current === "reconnecting") {
        this.open();
      }
    }, delay);
  }

  private finish(): void {
    for (const [id, entry] of this.pending) {
      this.forget(id);
      entry.reject(new ClientError(entry.event, "closed", "the client is closed"));
    }
    this.buffer.length = 0;
    this.setState("closed");
  }

  private forget(id: number): void {
    const entry = this.pending.get(id);
    if (entry) {
      host.clearTimeout(entry.timer);
      this.pending.delete(id);
    }
  }

  private receive(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      return;
    }
    const envelope = message as Record<string, unknown>;
    const event = envelope[this.fields.event];
    if (typeof event !== "string") {
      return;
    }
    const id = envelope[this.fields.id];
    if (typeof id === "number") {
      this.reply(id, event, envelope);
      return;
    }
    const data = envelope[this.fields.data];
    if (event === "$joined") {
      this.joined(envelope["room"], data);
      return;
    }
    const { room, epoch, offset } = envelope;
    const meta: PushMeta = {};
    if (typeof room === "string" && typeof epoch === "string" && typeof offset === "number") {
      if (!this.positions.accept(room, epoch, offset)) {
        return;
      }
      meta.room = room;
      meta.epoch = epoch;
      meta.offset = offset;
    }
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        handler(data, meta);
      } catch (error) {
        reportError(error);
      }
    }
  }

  private reply(id: number, event: string, envelope: Record<string, unknown>): void {
    const entry = this.pending.get(id);
    if (!entry) {
      return;
    }
    this.forget(id);
    const error = envelope[this.fields.error];
    if (typeof error === "object" && error !== null) {
      const { code, message } = error as Record<string, unknown>;
      entry.reject(new ReplyError(event, String(code), String(message)));
    } else {
      entry.resolve(envelope[this.fields.data]);
    }
  }

  private joined(room: unknown, data: unknown): void {
    if (typeof room !== "string" || typeof data !== "object" || data === null) {
      return;
    }
    const { epoch, offset, recovered, missed } = data as Record<string, unknown>;
    if (typeof epoch !== "string" || typeof offset !== "number") {
      return;
    }
    this.positions.joined(room, epoch, offset);
    if (typeof recovered === "boolean") {
      const missedCount = typeof missed === "number" ? missed : 0;
      emitTo(this.recoveryListeners, { room, recovered, missed: missedCount, epoch, offset });
    }
  }

  private setState(state: State): void {
    if (state !== this.current) {
      this.current = state;
      emitTo(this.stateListeners, state);
    }
  }
}

function subscribe<T>(set: Set<Listener<T>>, listener: Listener<T>): () => void {
  set.add(listener);
  return () => {
    set.delete(listener);
  };
}

function emitTo<T>(set: Set<Listener<T>>, value: T): void {
  for (const listener of [...set]) {
    try {
      listener(value);
    } catch (error) {
      reportError(error);
    }
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = null;
}

/** Connects to `url` (a `ws:`/`wss:` URL of an event-protocol endpoint). */
export function connect<Api extends ApiShape = AnyApi>(url: string, options?: ConnectOptions): Client<Api> {
  return new Client<Api>(url, options);
}
