/** The part of the WebSocket API the client uses (the browser's, Node's global, or `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** A WebSocket constructor: `new WebSocket(url)`. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

interface Host {
  WebSocket?: WebSocketConstructor;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  queueMicrotask(callback: () => void): void;
}

/** The host's timers and WebSocket, typed without the DOM or Node libraries. */
export const host = globalThis as unknown as Host;

/** Reports an exception of an application callback without stopping the client. */
export function reportError(error: unknown): void {
  host.queueMicrotask(() => {
    throw error;
  });
}
