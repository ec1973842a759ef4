// Compile-time checks of the generated types (run by `tsc -p tsconfig.test.json`): the auction
// example's protocol as `ws-controller-client generate` writes it from its /asyncapi.json
// (test/generate.test.js checks that auction.api.ts is up to date).
import { connect } from "../../src/index.js";
import type { AuctionApi, LotState } from "./auction.api.js";

export async function checks(): Promise<void> {
  const socket = connect<AuctionApi>("ws://127.0.0.1:3000/auction/vase?name=ann");
  const reply = await socket.request("bid", { amount: 5 });
  const accepted: boolean = reply.accepted;
  const price: number = reply.price;
  socket.on("price", (data, meta) => {
    const leader: string = data.leader;
    const offset: number | undefined = meta.offset;
    void leader;
    void offset;
  });
  socket.on("state", (data: LotState) => {
    const leader: string | null | undefined = data.leader;
    void leader;
  });
  socket.emit("bid", { amount: 1 });
  // @ts-expect-error: a wrong field type
  await socket.request("bid", { amount: "5" });
  // @ts-expect-error: a missing field
  socket.emit("bid", {});
  // @ts-expect-error: a field the data does not have
  socket.emit("bid", { amount: 1, lot: "vase" });
  // @ts-expect-error: an event the server does not handle
  socket.emit("sell", { amount: 1 });
  // @ts-expect-error: an event the server does not handle
  await socket.request("sell", { amount: 1 });
  // @ts-expect-error: a push the server does not send
  socket.on("sold", () => {});
  socket.on("state", (data) => {
    // @ts-expect-error: `state`'s data has no such field (that is `price`'s `leader: string`)
    const leader: string = data.leader;
    void leader;
  });
  // @ts-expect-error: the reply has no such field
  void reply.leader;
  // @ts-expect-error: the reply's price is a number
  const wrong: string = reply.price;
  void accepted;
  void price;
  void wrong;
}

// An event whose handler sends no reply is generated with `reply: never`: `emit` it; a
// `request` would only time out, so it does not type-check.
interface Notes {
  requests: { note: { data: { text: string }; reply: never } };
  pushes: Record<never, never>;
}

export function noReply(): void {
  const socket = connect<Notes>("ws://127.0.0.1:3000/notes");
  socket.emit("note", { text: "hi" });
  // @ts-expect-error: `note` has no reply
  void socket.request("note", { text: "hi" });
}
