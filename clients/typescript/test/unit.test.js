import { test } from "node:test";
import assert from "node:assert/strict";
import { Positions, backoff, delayMs, FINAL_CLOSE_CODES } from "../dist/index.js";

test("positions drop pushes at or below the last offset of the same epoch", () => {
  const p = new Positions();
  assert.equal(p.accept("r", "e1", 1), true);
  assert.equal(p.accept("r", "e1", 2), true);
  assert.equal(p.accept("r", "e1", 2), false);
  assert.equal(p.accept("r", "e1", 1), false);
  assert.equal(p.accept("r", "e2", 1), true, "a new epoch starts over");
  p.joined("r", "e2", 0);
  assert.deepEqual(p.get("r"), { epoch: "e2", offset: 1 }, "same epoch only moves forward");
  p.joined("r", "e3", 7);
  assert.deepEqual(p.get("r"), { epoch: "e3", offset: 7 });
});

test("since query: one per room, percent-encoded, replacing earlier ones", () => {
  const p = new Positions();
  assert.equal(p.urlWithSince("ws://h/feed/a?name=ann"), "ws://h/feed/a?name=ann");
  p.joined("a b:c", "E-1", 4);
  p.joined("lobby", "E_2", 0);
  assert.equal(
    p.urlWithSince("ws://h/feed/a?since=x&name=ann"),
    "ws://h/feed/a?name=ann&since=E-1%3A4%3Aa%20b%3Ac&since=E_2%3A0%3Alobby",
  );
  assert.equal(p.urlWithSince("ws://h/x"), "ws://h/x?since=E-1%3A4%3Aa%20b%3Ac&since=E_2%3A0%3Alobby");
});

test("backoff: exponential, capped, jittered in the upper half", () => {
  const policy = backoff({ initialDelayMs: 100, maxDelayMs: 1000 });
  assert.equal(delayMs(policy, 0, () => 0), 50);
  assert.equal(delayMs(policy, 0, () => 1), 100);
  assert.equal(delayMs(policy, 3, () => 1), 800);
  assert.equal(delayMs(policy, 10, () => 0), 500);
  assert.equal(delayMs(policy, 10, () => 1), 1000);
  for (const code of [1000, 1002, 1003, 1007, 1008, 1009, 1010]) assert.ok(FINAL_CLOSE_CODES.has(code));
  for (const code of [1001, 1006, 1011, 1012, 1013]) assert.ok(!FINAL_CLOSE_CODES.has(code));
});
