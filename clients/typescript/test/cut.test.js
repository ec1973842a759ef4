import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, ClientError } from "../dist/index.js";
import { startExample } from "./server.js";
import { startProxy } from "./proxy.js";

test("a request in flight when the connection is cut rejects with `disconnected`; the client reconnects", async (t) => {
  const server = await startExample("auction");
  t.after(() => server.stop());
  const proxy = await startProxy(server.addr);
  t.after(() => proxy.stop());
  const socket = connect(`ws://${proxy.addr}/auction/cut${Date.now()}?name=bob`, {
    reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
  });
  t.after(() => socket.close());
  const states = [];
  socket.onState((s) => states.push(s));
  const closes = [];
  socket.onClose((c) => closes.push(c));
  assert.deepEqual(await socket.request("bid", { amount: 1 }), { accepted: true, price: 1 });

  proxy.hold(true);
  const inFlight = socket.request("bid", { amount: 2 }).catch((e) => e);
  await new Promise((r) => setTimeout(r, 50));
  proxy.hold(false);
  proxy.cut();
  const error = await inFlight;
  assert.ok(error instanceof ClientError);
  assert.equal(error.code, "disconnected");
  assert.equal(closes[0]?.code, 1006);
  assert.equal(closes[0]?.reconnecting, true);

  // The bid never reached the server: after the reconnect the price is still 1.
  const again = await socket.request("bid", { amount: 1 });
  assert.deepEqual(again, { accepted: false, price: 1 });
  assert.deepEqual(states, ["open", "reconnecting", "open"]);
});
