import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, ReplyError, ClientError } from "../dist/index.js";
import { startExample } from "./server.js";

function next(socket, event) {
  return new Promise((resolve) => {
    const off = socket.on(event, (data, meta) => {
      off();
      resolve({ data, meta });
    });
  });
}

function state(socket, wanted) {
  return new Promise((resolve) => {
    if (socket.state === wanted) return resolve();
    const off = socket.onState((s) => {
      if (s === wanted) {
        off();
        resolve();
      }
    });
  });
}

test("auction: pushes, requests, error replies, timeouts, reconnect after a restart", async (t) => {
  let server = await startExample("auction");
  t.after(() => server.stop());
  const lot = `vase${Date.now()}`;
  const ann = connect(`ws://${server.addr}/auction/${lot}?name=ann`, {
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  t.after(() => ann.close());
  const first = await next(ann, "state");
  assert.deepEqual(first.data, { lot, price: 0, leader: null });
  assert.deepEqual(first.meta, {});

  const price = next(ann, "price");
  assert.deepEqual(await ann.request("bid", { amount: 5 }), { accepted: true, price: 5 });
  assert.deepEqual((await price).data, { price: 5, leader: "ann" });
  assert.deepEqual(await ann.request("bid", { amount: 3 }), { accepted: false, price: 5 });

  const invalid = await ann.request("bid", { amount: "x" }).catch((e) => e);
  assert.ok(invalid instanceof ReplyError);
  assert.equal(invalid.code, "invalid_data");
  const unknown = await ann.request("nope", null).catch((e) => e);
  assert.ok(unknown instanceof ReplyError);
  assert.equal(unknown.code, "unknown_event");
  // An emit gets no reply; the server handles it all the same.
  assert.equal(ann.emit("bid", { amount: 9 }), true);
  assert.deepEqual(await ann.request("bid", { amount: 9 }), { accepted: false, price: 9 });

  // A request with a reply that never comes (the server is gone) rejects, never hangs.
  const closes = [];
  ann.onClose((c) => closes.push(c));
  const port = server.addr;
  await server.stop();
  await state(ann, "reconnecting");
  assert.equal(closes[0]?.reconnecting, true);
  const timedOut = await ann.request("bid", { amount: 1 }, { timeoutMs: 100 }).catch((e) => e);
  assert.ok(timedOut instanceof ClientError);
  assert.equal(timedOut.code, "timeout");

  // Restarted on the same port: the client comes back and buffered emits go out in order.
  server = await startExample("auction", { ADDR: port });
  const again = next(ann, "state");
  const queued = ann.request("bid", { amount: 2 });
  await state(ann, "open");
  assert.deepEqual((await again).data, { lot, price: 0, leader: null });
  assert.deepEqual(await queued, { accepted: true, price: 2 });

  ann.close();
  assert.equal(ann.state, "closed");
  const closed = await ann.request("bid", { amount: 3 }).catch((e) => e);
  assert.equal(closed.code, "closed");
});
