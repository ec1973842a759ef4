/**
 * The shape of a controller's protocol, as the generator writes it from the AsyncAPI document:
 * what the client sends (with the reply it gets, `never` when the event has no reply) and what
 * the server pushes.
 */
export interface ApiShape {
  requests: { [event: string]: { data: unknown; reply: unknown } };
  pushes: { [event: string]: unknown };
}

/** Any protocol: event names are strings, data and replies `unknown`. */
export interface AnyApi extends ApiShape {
  requests: { [event: string]: { data: unknown; reply: unknown } };
  pushes: { [event: string]: unknown };
}

/** The events the client may send. */
export type RequestName<Api extends ApiShape> = keyof Api["requests"] & string;
/** The events the server pushes. */
export type PushName<Api extends ApiShape> = keyof Api["pushes"] & string;
/** The data of a sent event. */
export type RequestData<Api extends ApiShape, E extends RequestName<Api>> = Api["requests"][E]["data"];
/** The reply's data of a sent event. */
export type ReplyData<Api extends ApiShape, E extends RequestName<Api>> = Api["requests"][E]["reply"];
/**
 * The events `request` accepts: those that reply with data (an event whose reply is `never`
 * gets no reply, so a request would only time out: `emit` it).
 */
export type ReplyingName<Api extends ApiShape> = {
  [E in RequestName<Api>]: [ReplyData<Api, E>] extends [never] ? never : E;
}[RequestName<Api>];
