// Debian's chromium, headless, driven over the DevTools protocol (CDP) with Node's own
// WebSocket: no browser download, no dependency. Every launch is killed (its whole process
// group) by close(), and at the latest when the test process exits.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CHROMIUM = process.env.CHROMIUM ?? "chromium";
const running = new Set();
process.on("exit", () => {
  for (const child of running) killGroup(child);
});

function killGroup(child) {
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Launches chromium headless; resolves with a browser to open pages in. */
export async function launch({ timeoutMs = 20_000 } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "ws-controller-chromium-"));
  const args = [
    "--headless",
    "--no-sandbox", // CI runs as root, where chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    // Two tabs of one test run side by side: neither may have its timers throttled.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    `--user-data-dir=${profile}`,
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "about:blank",
  ];
  const child = spawn(CHROMIUM, args, { detached: true, stdio: ["ignore", "ignore", "pipe"] });
  running.add(child);
  let log = "";
  const cleanup = () => {
    killGroup(child);
    running.delete(child);
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const endpoint = await withTimeout(
      new Promise((resolve, reject) => {
        child.stderr.on("data", (chunk) => {
          log += chunk;
          const match = /DevTools listening on (ws:\/\/\S+)/.exec(log);
          if (match) resolve(match[1]);
        });
        child.once("error", reject);
        child.once("exit", (code) => reject(new Error(`chromium exited with ${code}: ${log}`)));
      }),
      timeoutMs,
      "chromium start",
    );
    const cdp = await connectCdp(endpoint);
    return new Browser(cdp, child, cleanup);
  } catch (error) {
    cleanup();
    throw error;
  }
}

/** A CDP connection: `send(method, params, sessionId)` and events by session. */
async function connectCdp(endpoint) {
  const ws = new WebSocket(endpoint);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`cannot connect to ${endpoint}`));
  });
  let nextId = 1;
  const pending = new Map();
  const listeners = new Set();
  ws.onmessage = ({ data }) => {
    const message = JSON.parse(data);
    if (message.id !== undefined) {
      const entry = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) entry?.reject(new Error(`${entry.method}: ${message.error.message}`));
      else entry?.resolve(message.result);
    } else {
      for (const listener of listeners) listener(message);
    }
  };
  ws.onclose = () => {
    for (const entry of pending.values()) entry.reject(new Error(`${entry.method}: the browser went away`));
    pending.clear();
  };
  return {
    send(method, params = {}, sessionId) {
      const id = nextId++;
      const message = sessionId ? { id, method, params, sessionId } : { id, method, params };
      const answer = new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
      ws.send(JSON.stringify(message));
      return withTimeout(answer, 15_000, method);
    },
    listen(listener) {
      listeners.add(listener);
    },
    close() {
      ws.close();
    },
  };
}

class Browser {
  constructor(cdp, child, cleanup) {
    this.cdp = cdp;
    this.child = child;
    this.cleanup = cleanup;
  }

  /** Opens `url` in a new tab and waits for its load event. */
  async open(url) {
    const { targetId } = await this.cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.cdp.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this.cdp, sessionId);
    await this.cdp.send("Runtime.enable", {}, sessionId);
    await this.cdp.send("Page.enable", {}, sessionId);
    await page.navigate(url);
    return page;
  }

  /** Closes the browser: kills its process group and removes its profile. */
  async close() {
    await withTimeout(this.cdp.send("Browser.close"), 2_000, "Browser.close").catch(() => {});
    this.cdp.close();
    this.cleanup();
  }
}

class Page {
  constructor(cdp, sessionId) {
    this.cdp = cdp;
    this.sessionId = sessionId;
    /** Uncaught exceptions and console errors of the page, as text. */
    this.errors = [];
    /** Everything the page logged. */
    this.console = [];
    this.loaded = () => {};
    cdp.listen((message) => {
      if (message.sessionId !== sessionId) return;
      if (message.method === "Page.loadEventFired") this.loaded();
      if (message.method === "Runtime.exceptionThrown") {
        const details = message.params.exceptionDetails;
        this.errors.push(details.exception?.description ?? details.text);
      }
      if (message.method === "Runtime.consoleAPICalled") {
        const text = message.params.args.map((a) => a.value ?? a.description ?? "").join(" ");
        this.console.push(`${message.params.type}: ${text}`);
        if (message.params.type === "error") this.errors.push(text);
      }
    });
  }

  /** Navigates to `url` (or reloads it) and waits for the load event. */
  async navigate(url) {
    const loaded = new Promise((resolve) => {
      this.loaded = resolve;
    });
    const { errorText } = await this.cdp.send("Page.navigate", { url }, this.sessionId);
    if (errorText) throw new Error(`navigate ${url}: ${errorText}`);
    await withTimeout(loaded, 15_000, `load ${url}`);
  }

  /** The value of `expression` in the page (awaited if it is a promise; JSON values only). */
  async evaluate(expression) {
    const { result, exceptionDetails } = await this.cdp.send(
      "Runtime.evaluate",
      { expression, awaitPromise: true, returnByValue: true },
      this.sessionId,
    );
    if (exceptionDetails) {
      throw new Error(`in the page: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    }
    return result.value;
  }

  /** Polls `expression` until it is truthy; its value, or an error after `timeoutMs`. */
  async waitFor(expression, { timeoutMs = 15_000, what = expression } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await this.evaluate(expression);
      if (value) return value;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; console: ${this.console.join(" | ")}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
