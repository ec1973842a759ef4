import { test } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./chromium.js";
import { startExample } from "./server.js";
import { startStatic } from "./static.js";

const prices = `[...document.querySelectorAll("#prices li")].map((li) => li.textContent)`;

test("chromium: two tabs bid and see each other's prices, across a restart of the server", async (t) => {
  let server = await startExample("auction");
  t.after(() => server.stop());
  const pages = await startStatic(server.addr);
  t.after(() => pages.stop());
  const browser = await launch();
  t.after(() => browser.close());
  const lot = `vase${Date.now()}`;
  const page = (name) => `http://${pages.addr}/test/pages/auction.html?lot=${lot}&name=${name}`;
  const ann = await browser.open(page("ann"));
  const bob = await browser.open(page("bob"));
  for (const tab of [ann, bob]) await tab.waitFor(`document.body.dataset.state === "open"`);

  assert.deepEqual(await ann.evaluate(`socket.request("bid", { amount: 5 })`), { accepted: true, price: 5 });
  await bob.waitFor(`${prices}.length === 1`);
  assert.deepEqual(await bob.evaluate(prices), ["5 ann"]);

  const addr = server.addr;
  await server.stop();
  for (const tab of [ann, bob]) await tab.waitFor(`document.body.dataset.state === "reconnecting"`);
  server = await startExample("auction", { ADDR: addr });
  for (const tab of [ann, bob]) await tab.waitFor(`document.body.dataset.state === "open"`);
  // A fresh server: the lot starts over.
  assert.deepEqual(await bob.evaluate(`socket.request("bid", { amount: 2 })`), { accepted: true, price: 2 });
  await ann.waitFor(`${prices}.length === 2`);
  assert.deepEqual(await ann.evaluate(prices), ["5 ann", "2 bob"]);
  assert.deepEqual(await bob.evaluate(prices), ["5 ann", "2 bob"]);
  assert.deepEqual([...ann.errors, ...bob.errors].filter((e) => !/WebSocket/.test(e)), []);
});
