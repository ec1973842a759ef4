// Serves the package's dist/ and test/pages/ over HTTP on a free port and forwards WebSocket
// upgrades to an example server: the pages and their WebSocket share one origin, as the
// server's default Origin check (same origin) wants.
import { createServer } from "node:http";
import net from "node:net";
import { readFile } from "node:fs/promises";
import { extname, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8" };

export async function startStatic(target) {
  const [host, port] = target.split(":");
  const sockets = new Set();
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
    const type = TYPES[extname(path)];
    try {
      if (!type || !/^\/(dist|test\/pages)\/[^.]/.test(path)) throw new Error("not served");
      const body = await readFile(`${root}${path.slice(1)}`);
      res.writeHead(200, { "content-type": type }).end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  server.on("upgrade", (req, client, head) => {
    const upstream = net.connect(Number(port), host, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      upstream.write(head);
      client.pipe(upstream).pipe(client);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {}).on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    addr: `127.0.0.1:${server.address().port}`,
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
