// Reads the event protocol out of the AsyncAPI 3 document ws-controller serves: which events the
// client sends (with their reply), which the server pushes, as JSON Schemas.

/** A JSON Schema as the document holds it. */
export type Schema = Record<string, unknown> | boolean;

/** One event the client sends: its data and, when the handler replies with data, the reply's. */
export interface RequestEvent {
  data: Schema;
  reply: Schema | undefined;
}

/** The events of one channel (one controller). */
export interface ChannelEvents {
  /** The channel's key in the document. */
  name: string;
  requests: Map<string, RequestEvent>;
  pushes: Map<string, Schema>;
}

/** The document is not one the generator understands; the message says where. */
export class GenerateError extends Error {
  override readonly name = "GenerateError";
}

type Json = Record<string, unknown>;

const ERROR_SCHEMA = "#/components/schemas/EventError";
/** The history envelope's fields around the data of a room push. */
const ROOM_FIELDS = new Set(["room", "epoch", "offset"]);

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Follows a local `$ref` (`#/a/b`) through the document. */
function resolve(document: Json, value: unknown, where: string): Json {
  if (!isObject(value) || typeof value["$ref"] !== "string") {
    if (isObject(value)) return value;
    throw new GenerateError(`${where}: expected an object`);
  }
  const ref = value["$ref"];
  if (!ref.startsWith("#/")) {
    throw new GenerateError(`${where}: only local references are supported, not ${ref}`);
  }
  let target: unknown = document;
  for (const part of ref.slice(2).split("/")) {
    const key = decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~");
    target = isObject(target) ? target[key] : undefined;
  }
  if (!isObject(target)) {
    throw new GenerateError(`${where}: ${ref} does not resolve`);
  }
  return target;
}

/** An event envelope's payload: its properties, required names and the event's field and name. */
interface Envelope {
  properties: Json;
  required: string[];
  eventField: string;
  event: string;
}

/** The envelope of an event message, or undefined for a plain text, binary or JSON message. */
function envelopeOf(message: Json): Envelope | undefined {
  const payload = message["payload"];
  if (!isObject(payload) || !isObject(payload["properties"])) return undefined;
  const properties = payload["properties"];
  const required = Array.isArray(payload["required"]) ? payload["required"].filter((r): r is string => typeof r === "string") : [];
  for (const [field, schema] of Object.entries(properties)) {
    if (isObject(schema) && typeof schema["const"] === "string") {
      return { properties, required, eventField: field, event: schema["const"] };
    }
  }
  return undefined;
}

function isErrorBody(schema: unknown): boolean {
  return isObject(schema) && schema["$ref"] === ERROR_SCHEMA;
}

function schemaAt(envelope: Envelope, field: string, where: string): Schema {
  const schema = envelope.properties[field];
  if (!isObject(schema) && typeof schema !== "boolean") {
    throw new GenerateError(`${where}: the envelope has no \`${field}\` schema`);
  }
  return schema;
}

/**
 * The field holding a push's data: the channel's data field when its requests named it, else
 * the one required field besides the event name and a room push's room/epoch/offset.
 */
function pushDataField(envelope: Envelope, dataField: string | undefined, where: string): string {
  if (dataField !== undefined && dataField in envelope.properties) return dataField;
  const rest = envelope.required.filter((f) => f !== envelope.eventField && !ROOM_FIELDS.has(f));
  if (rest.length !== 1 || rest[0] === undefined) {
    throw new GenerateError(`${where}: cannot tell the data field among ${JSON.stringify(rest)}`);
  }
  return rest[0];
}

interface Operation {
  key: string;
  action: string;
  channel: string;
  messages: Json[];
  replies: Json[];
}

function operations(document: Json): Operation[] {
  const all = document["operations"];
  if (!isObject(all)) return [];
  return Object.entries(all).map(([key, value]) => {
    const where = `operations.${key}`;
    if (!isObject(value)) throw new GenerateError(`${where}: expected an object`);
    const channelRef = isObject(value["channel"]) ? value["channel"]["$ref"] : undefined;
    if (typeof channelRef !== "string" || !channelRef.startsWith("#/channels/")) {
      throw new GenerateError(`${where}: the channel must be a #/channels/ reference`);
    }
    const list = (v: unknown, at: string) =>
      (Array.isArray(v) ? v : []).map((m, i) => resolve(document, m, `${at}[${i}]`));
    const reply = isObject(value["reply"]) ? value["reply"]["messages"] : undefined;
    return {
      key,
      action: String(value["action"]),
      channel: decodeURIComponent(channelRef.slice("#/channels/".length)),
      messages: list(value["messages"], `${where}.messages`),
      replies: list(reply, `${where}.reply.messages`),
    };
  });
}

/** The event protocol of every channel of `document` (channels without events are left out). */
export function channelEvents(document: unknown): ChannelEvents[] {
  if (!isObject(document) || typeof document["asyncapi"] !== "string" || !document["asyncapi"].startsWith("3.")) {
    throw new GenerateError("not an AsyncAPI 3 document (ws-controller serves one at e.g. /asyncapi.json)");
  }
  const channels = new Map<string, ChannelEvents>();
  const dataFields = new Map<string, string>();
  const channel = (name: string) => {
    let events = channels.get(name);
    if (!events) {
      events = { name, requests: new Map(), pushes: new Map() };
      channels.set(name, events);
    }
    return events;
  };
  const ops = operations(document);
  // The server receives: an event the client sends, answered by a data reply and/or an error
  // reply (whose id field tells which of the request's fields is the data).
  for (const op of ops.filter((o) => o.action === "receive")) {
    const request = op.messages[0] && envelopeOf(op.messages[0]);
    if (!request) continue;
    const where = `operations.${op.key}`;
    const replies = op.replies.map(envelopeOf).filter((e): e is Envelope => e !== undefined);
    const error = replies.find((r) => Object.values(r.properties).some(isErrorBody));
    const idField = error
      ? Object.keys(error.properties).find((f) => f !== error.eventField && !isErrorBody(error.properties[f]))
      : "id";
    const dataField = Object.keys(request.properties).find((f) => f !== request.eventField && f !== idField);
    if (dataField === undefined) throw new GenerateError(`${where}: the request envelope has no data field`);
    dataFields.set(op.channel, dataField);
    const reply = replies.find((r) => r !== error);
    channel(op.channel).requests.set(request.event, {
      data: schemaAt(request, dataField, where),
      reply: reply && schemaAt(reply, dataField, where),
    });
  }
  // The server sends: pushes. `$` events are the protocol's own (`$joined`), which the client
  // handles itself.
  for (const op of ops.filter((o) => o.action === "send")) {
    const where = `operations.${op.key}`;
    for (const message of op.messages) {
      const push = envelopeOf(message);
      if (!push || push.event.startsWith("$")) continue;
      const field = pushDataField(push, dataFields.get(op.channel), where);
      channel(op.channel).pushes.set(push.event, schemaAt(push, field, where));
    }
  }
  return [...channels.values()];
}
