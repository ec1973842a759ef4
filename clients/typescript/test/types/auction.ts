// Compile-time checks of the type map (run by `tsc -p tsconfig.test.json`): the auction's
// protocol, written by hand in the shape the generator is to emit.
import { connect, type ApiShape } from "../../src/index.js";

interface Auction extends ApiShape {
  requests: { bid: { data: { amount: number }; reply: { accepted: boolean; price: number } } };
  pushes: { state: { lot: string; price: number; leader: string | null }; price: { price: number; leader: string } };
}

export async function checks(): Promise<void> {
  const socket = connect<Auction>("ws://127.0.0.1:3000/auction/vase?name=ann");
  const reply = await socket.request("bid", { amount: 5 });
  const accepted: boolean = reply.accepted;
  socket.on("price", (data) => {
    const leader: string = data.leader;
    void leader;
  });
  socket.emit("bid", { amount: 1 });
  // @ts-expect-error: a wrong field type
  await socket.request("bid", { amount: "5" });
  // @ts-expect-error: a missing field
  socket.emit("bid", {});
  // @ts-expect-error: an event the server does not handle
  socket.emit("sell", { amount: 1 });
  // @ts-expect-error: a push the server does not send
  socket.on("sold", () => {});
  // @ts-expect-error: the reply has no such field
  void reply.leader;
  void accepted;
}
