// A TCP proxy in front of a server that can hold back client bytes and cut every connection.
import net from "node:net";

export async function startProxy(target) {
  const [host, port] = target.split(":");
  const pairs = new Set();
  let holding = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), host);
    const pair = { client, upstream };
    pairs.add(pair);
    client.on("data", (chunk) => {
      if (!holding) upstream.write(chunk);
    });
    upstream.pipe(client);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    addr: `127.0.0.1:${server.address().port}`,
    /** Stops forwarding what clients send (the server never sees it). */
    hold: (on) => {
      holding = on;
    },
    /** Resets every proxied connection. */
    cut: () => {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
    },
    stop: () => new Promise((resolve) => {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      server.close(() => resolve());
    }),
  };
}
