/**
 * Test harness: a real `runnel serve` on a free loopback port with a real key (as the Rust
 * harness in crates/cli/tests/common does it), and a TCP proxy between client and server that
 * the tests order to cut, freeze or refuse connections (fault injection).
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import WebSocket from "ws";

/** Bounds a hang; measures nothing (CI machines are shared). */
export const PATIENCE_MS = 60_000;
/** How long `runnel serve` may take to stop after SIGTERM. */
const STOP_PATIENCE_MS = 30_000;

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 8; depth += 1) {
    if (existsSync(path.join(dir, "Cargo.toml")) && existsSync(path.join(dir, "clients"))) return dir;
    dir = path.dirname(dir);
  }
  return "/work/main";
}

/** The server binary: `RUNNEL_BIN`, else the workspace's debug build. */
export function runnelBin(): string {
  const bin = process.env.RUNNEL_BIN ?? path.join(repoRoot(), "target", "debug", "runnel");
  if (!existsSync(bin)) {
    throw new Error(`runnel binary not found at ${bin}: build it (cargo build -p runnel-cli) or set RUNNEL_BIN`);
  }
  return bin;
}

export interface Server {
  /** `ws://ADDR/ws` */
  url: string;
  /** `http://ADDR` */
  httpUrl: string;
  host: string;
  port: number;
  key: string;
  dataDir: string;
  /** Another key; `args` as for `runnel keys create` (`["--scope", "operator"]`). */
  createKey(args?: string[]): string;
  stop(): Promise<void>;
}

const ENV = { ...process.env, RUNNEL_LOG: process.env.RUNNEL_LOG ?? "warn" };

function createKey(bin: string, dataDir: string, args: string[] = []): string {
  const output = execFileSync(bin, ["keys", "create", "--data-dir", dataDir, ...args], { env: ENV }).toString().trim();
  const key = output.split("\n").pop()?.trim();
  if (!key) throw new Error(`runnel keys create printed no key: ${output}`);
  return key;
}

/** Start `runnel serve --listen 127.0.0.1:0` and wait for its address. */
export async function startServer(extraArgs: string[] = []): Promise<Server> {
  const bin = runnelBin();
  const dataDir = mkdtempSync(path.join(tmpdir(), "runnel-js-"));
  const key = createKey(bin, dataDir);
  const child: ChildProcess = spawn(
    bin,
    ["serve", "--listen", "127.0.0.1:0", "--stop-on-stdin-close", "--data-dir", dataDir, ...extraArgs],
    { env: ENV, stdio: ["pipe", "pipe", "inherit"] },
  );
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("runnel serve printed no address within 120 s")), 120_000);
    let buffer = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = /runnel listening on http:\/\/(\S+)/.exec(buffer);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`runnel serve exited with ${code} before listening`));
    });
  });
  // Keep draining stdout so the server never blocks on a full pipe.
  child.stdout?.resume();
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return {
    url: `ws://${address}/ws`,
    httpUrl: `http://${address}`,
    host,
    port,
    key,
    dataDir,
    createKey: (args?: string[]) => createKey(bin, dataDir, args),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        const started = Date.now();
        child.kill("SIGTERM");
        // --stop-on-stdin-close: closing stdin stops it too (some builds ignore SIGTERM while
        // stdin stays open).
        child.stdin?.end();
        // A server that does not stop within the patience is killed, and the test says so.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const patience = new Promise((resolve) => (timer = setTimeout(() => resolve(false), STOP_PATIENCE_MS)));
        const stopped = await Promise.race([exited.then(() => true), patience]);
        clearTimeout(timer);
        if (process.env.RUNNEL_JS_DEBUG) console.error(`runnel serve stopped after ${Date.now() - started} ms`);
        if (!stopped) {
          child.kill("SIGKILL");
          await exited;
          throw new Error(`runnel serve did not stop within ${STOP_PATIENCE_MS} ms of SIGTERM`);
        }
      }
      // The server's helper processes may hold its stdout open a while after it exits: stop
      // reading, or this process would wait for them.
      child.stdout?.destroy();
      child.stdin?.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  frozen: boolean;
}

/**
 * A TCP proxy in front of the server. `cut()` destroys every current connection (the client
 * sees its socket close); `freeze()` silently drops every byte of the current connections
 * (the socket stays up, only missed pongs can tell); `refuse(true)` drops new connections.
 */
export class FaultProxy {
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  #refusing = false;
  /** Connections accepted so far. */
  accepted = 0;
  /** Connections cut so far. */
  cuts = 0;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const server = net.createServer();
    const proxy = new FaultProxy(server);
    server.on("connection", (client) => proxy.#accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** Connections open now. */
  get open(): number {
    return this.#pairs.size;
  }

  #accept(client: net.Socket, target: { host: string; port: number }): void {
    if (this.#refusing) {
      client.destroy();
      return;
    }
    this.accepted += 1;
    client.setNoDelay(true);
    const upstream = net.connect(target.port, target.host);
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream, frozen: false };
    this.#pairs.add(pair);
    const end = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (data) => {
      if (!pair.frozen) upstream.write(data);
    });
    upstream.on("data", (data) => {
      if (!pair.frozen) client.write(data);
    });
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  }

  /** Destroy every current connection; returns how many. */
  cut(): number {
    const pairs = [...this.#pairs];
    for (const pair of pairs) {
      this.#pairs.delete(pair);
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.cuts += pairs.length;
    return pairs.length;
  }

  /** Drop every byte of the current connections from now on, keeping them open. */
  freeze(): void {
    for (const pair of this.#pairs) pair.frozen = true;
  }

  /** Refuse (drop at once) new connections, or accept them again. */
  refuse(refusing: boolean): void {
    this.#refusing = refusing;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Resolve when `predicate()` holds; fail with `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = PATIENCE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** `promise`, or a failure naming `what` after `timeoutMs`. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = PATIENCE_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Frames a client sent and received, recorded by `tappedWebSocket`. */
export interface Tap {
  sent: Record<string, unknown>[];
  received: Record<string, unknown>[];
}

/** A `ws` WebSocket constructor that records every frame (to check what went over the wire). */
export function tappedWebSocket(tap: Tap): unknown {
  return class TappedWebSocket extends WebSocket {
    constructor(url: string) {
      super(url);
      this.on("message", (data) => tap.received.push(JSON.parse(String(data)) as Record<string, unknown>));
    }

    override send(data: unknown, ...rest: unknown[]): void {
      tap.sent.push(JSON.parse(String(data)) as Record<string, unknown>);
      (WebSocket.prototype.send as (...args: unknown[]) => void).call(this, data, ...rest);
    }
  };
}

/** The `stdin_seq`s sent more than once (re-sent after a reconnect). */
export function resentStdin(tap: Tap): number[] {
  const counts = new Map<number, number>();
  for (const frame of tap.sent) {
    if (frame.action === "stdin" && typeof frame.stdin_seq === "number") {
      counts.set(frame.stdin_seq, (counts.get(frame.stdin_seq) ?? 0) + 1);
    }
  }
  return [...counts].filter(([, count]) => count > 1).map(([seq]) => seq);
}
