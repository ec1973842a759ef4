// Starts a cargo-built example (target/debug/examples/NAME) on a free port and returns its address.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));

export async function startExample(name, env = {}) {
  const child = spawn(`${root}target/debug/examples/${name}`, [], {
    env: { ...process.env, ADDR: "127.0.0.1:0", RUST_LOG: "info", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const addr = await new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`${name} did not log its address: ${log}`)), 10_000);
    const onData = (chunk) => {
      log += chunk;
      const match = /127\.0\.0\.1:(\d+)/.exec(log.replace(/\x1b\[[0-9;]*m/g, ""));
      if (match) {
        clearTimeout(timer);
        resolve(match[0]);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}: ${log}`)));
  });
  return {
    addr,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}
