/** The server's error reply to a request: `{"event":E,"id":I,"error":{"code":C,"message":M}}`. */
export class ReplyError extends Error {
  override readonly name = "ReplyError";
  /** The machine-readable code, e.g. `unknown_event`, `invalid_data`, or the handler's own. */
  readonly code: string;
  /** The event the request named. */
  readonly event: string;

  constructor(event: string, code: string, message: string) {
    super(`${event}: ${code}: ${message}`);
    this.code = code;
    this.event = event;
  }
}

/**
 * Why the client itself failed a request (no reply from the server):
 * - `timeout`: no reply within the request's timeout;
 * - `disconnected`: the request was sent and the connection dropped before its reply (it is not
 *   re-sent: the server may have handled it);
 * - `closed`: the client is closed (`close()`, or a close that retrying cannot fix);
 * - `buffer_full`: the client is disconnected and its outgoing buffer is full.
 */
export type ClientErrorCode = "timeout" | "disconnected" | "closed" | "buffer_full";

/** A request that failed in the client, with its {@link ClientErrorCode}. */
export class ClientError extends Error {
  override readonly name = "ClientError";
  readonly code: ClientErrorCode;
  /** The event the request named. */
  readonly event: string;

  constructor(event: string, code: ClientErrorCode, message: string) {
    super(`${event}: ${message}`);
    this.code = code;
    this.event = event;
  }
}
