import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { generate, GenerateError } from "../dist/generator/generate.js";
import { startExample } from "./server.js";

const run = promisify(execFile);
const cli = fileURLToPath(new URL("../dist/generator/cli.js", import.meta.url));
const checkedIn = fileURLToPath(new URL("types/auction.api.ts", import.meta.url));

/** The CLI's exit code, stdout and stderr. */
async function generateCli(...args) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    return { code: error.code, stdout: error.stdout, stderr: error.stderr };
  }
}

const squash = (ts) => ts.replace(/\s+/g, " ");

test("the types of the auction example's /asyncapi.json are test/types/auction.api.ts", async (t) => {
  const server = await startExample("auction");
  t.after(() => server.stop());
  const { code, stdout, stderr } = await generateCli("generate", `http://${server.addr}/asyncapi.json`);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  const expected = await readFile(checkedIn, "utf8");
  assert.equal(
    stdout,
    expected,
    "test/types/auction.api.ts is out of date: regenerate it with `node dist/generator/cli.js generate http://ADDR/asyncapi.json > test/types/auction.api.ts` against the auction example",
  );
  const document = await (await fetch(`http://${server.addr}/asyncapi.json`)).json();
  assert.equal(await generate(document), expected, "the API and the CLI agree");
});

// An event protocol as the server's envelope() writes it: renamed envelope fields (the macro's
// event_field/data_field/id_field), an event without a reply, a room push with history fields,
// the protocol's `$joined`, and plain messages that are not events.
const phoenix = {
  asyncapi: "3.0.0",
  info: { title: "Phoenix", version: "0.1.0" },
  channels: {
    "live_room": {
      address: "/live/{room}",
      messages: {
        receive_join: {
          payload: {
            type: "object",
            required: ["topic"],
            properties: { topic: { const: "join" }, ref: { type: ["number", "string"] }, payload: { $ref: "#/components/schemas/Join" } },
          },
        },
        reply_join: {
          payload: {
            type: "object",
            required: ["topic", "payload"],
            properties: { topic: { const: "join" }, ref: { type: ["number", "string"] }, payload: { type: "boolean" } },
          },
        },
        error_join: {
          payload: {
            type: "object",
            required: ["topic", "error"],
            properties: { topic: { const: "join" }, ref: { type: ["number", "string"] }, error: { $ref: "#/components/schemas/EventError" } },
          },
        },
        receive_leave: {
          payload: { type: "object", required: ["topic"], properties: { topic: { const: "leave" }, ref: {}, payload: { type: "null" } } },
        },
        error_leave: {
          payload: {
            type: "object",
            required: ["topic", "error"],
            properties: { topic: { const: "leave" }, ref: {}, error: { $ref: "#/components/schemas/EventError" } },
          },
        },
        push_said: {
          payload: {
            type: "object",
            required: ["topic", "room", "epoch", "offset", "payload"],
            properties: {
              topic: { const: "said" },
              room: { type: "string" },
              epoch: { type: "string" },
              offset: { type: "integer" },
              payload: { type: "object", required: ["text"], properties: { text: { type: "string" }, at: { type: "integer" } } },
            },
          },
        },
        push_joined: {
          payload: { type: "object", required: ["topic", "room", "payload"], properties: { topic: { const: "$joined" }, room: {}, payload: {} } },
        },
        receive_text: { payload: { type: "string" } },
      },
    },
  },
  operations: {
    live_room_receive_join: {
      action: "receive",
      channel: { $ref: "#/channels/live_room" },
      messages: [{ $ref: "#/channels/live_room/messages/receive_join" }],
      reply: { messages: [{ $ref: "#/channels/live_room/messages/reply_join" }, { $ref: "#/channels/live_room/messages/error_join" }] },
    },
    live_room_receive_leave: {
      action: "receive",
      channel: { $ref: "#/channels/live_room" },
      messages: [{ $ref: "#/channels/live_room/messages/receive_leave" }],
      reply: { messages: [{ $ref: "#/channels/live_room/messages/error_leave" }] },
    },
    live_room_push_said: { action: "send", channel: { $ref: "#/channels/live_room" }, messages: [{ $ref: "#/channels/live_room/messages/push_said" }] },
    live_room_push_joined: { action: "send", channel: { $ref: "#/channels/live_room" }, messages: [{ $ref: "#/channels/live_room/messages/push_joined" }] },
    live_room_receive_text: { action: "receive", channel: { $ref: "#/channels/live_room" }, messages: [{ $ref: "#/channels/live_room/messages/receive_text" }] },
  },
  components: {
    schemas: {
      Join: { type: "object", required: ["name"], properties: { name: { type: "string" } } },
      EventError: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" } } },
    },
  },
};

test("renamed envelope fields, events without a reply, room pushes; `$` events and plain messages left out", async () => {
  const ts = squash(await generate(phoenix, { banner: "// phoenix" }));
  assert.ok(ts.startsWith("// phoenix "), ts);
  assert.match(ts, /export interface Channels \{ live_room: LiveRoomApi; \}/);
  assert.match(ts, /requests: \{ join: \{ data: Join; reply: boolean; \}; leave: \{ data: null; reply: never; \}; \};/);
  assert.match(ts, /pushes: \{ said: \{ text: string; at\?: number; \}; \};/);
  assert.match(ts, /export interface Join \{ name: string; \}/);
  assert.doesNotMatch(ts, /\$joined|EventError|receive_text/);
});

test("documents the generator cannot read are clear errors", async () => {
  await assert.rejects(generate({ openapi: "3.1.0" }), (e) => e instanceof GenerateError && /not an AsyncAPI 3 document/.test(e.message));
  const noEvents = { asyncapi: "3.0.0", channels: {}, operations: {} };
  await assert.rejects(generate(noEvents), (e) => e instanceof GenerateError && /has no events/.test(e.message));
  const remote = structuredClone(phoenix);
  remote.operations.live_room_push_said.messages = [{ $ref: "https://example.com/said.json" }];
  await assert.rejects(generate(remote), (e) => e instanceof GenerateError && /only local references/.test(e.message));
  const dangling = structuredClone(phoenix);
  dangling.operations.live_room_push_said.messages = [{ $ref: "#/channels/live_room/messages/nope" }];
  await assert.rejects(generate(dangling), (e) => e instanceof GenerateError && /does not resolve/.test(e.message));
});

test("the CLI: usage, unreadable input and an invalid document exit non-zero with a message", async () => {
  const usage = await generateCli();
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^usage: ws-controller-client generate/);
  const missing = await generateCli("generate", "/nonexistent/asyncapi.json");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\/nonexistent\/asyncapi\.json: ENOENT/);
  assert.equal(missing.stdout, "");
  const invalid = await generateCli("generate", fileURLToPath(new URL("../package.json", import.meta.url)));
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /not an AsyncAPI 3 document/);
});
