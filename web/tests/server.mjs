// A real `runnel serve` for the console's end-to-end tests, started the way the Rust harness
// does (crates/cli/tests/common/mod.rs): a fresh data dir, a key from `runnel keys create`,
// `--stop-on-stdin-close` so that the server dies with the test process.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

export function runnelBin() {
  const bin = process.env.RUNNEL_BIN || "/work/main/target/debug/runnel";
  if (!existsSync(bin)) {
    throw new Error(`runnel binary not found at ${bin}: build it (cargo build -p runnel-cli) or set RUNNEL_BIN`);
  }
  return bin;
}

export function makeDataDir() {
  return mkdtempSync(path.join(tmpdir(), "runnel-console-e2e-"));
}

export function createKey(dataDir) {
  // An operator key: the console's monitor also shows the server-wide figures.
  const out = execFileSync(runnelBin(), ["keys", "create", "--scope", "operator", "--data-dir", dataDir], {
    env: { ...process.env, RUNNEL_LOG: "warn" },
    encoding: "utf8",
  });
  const key = out.trim().split("\n").at(-1)?.trim();
  if (!key) throw new Error(`runnel keys create printed no key: ${out}`);
  return key;
}

/**
 * Start `runnel serve` on `listen` (default a free port) with `dataDir`; resolves with
 * `{ address, url, stop }` once it prints `runnel listening on http://ADDR`.
 */
export async function startServer({ dataDir, listen = "127.0.0.1:0", attempts = 20 } = {}) {
  let lastError;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await startOnce(dataDir, listen);
    } catch (error) {
      lastError = error;
      // The port of a server just stopped may need a moment to be free again.
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  throw lastError;
}

function startOnce(dataDir, listen) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      runnelBin(),
      ["serve", "--listen", listen, "--data-dir", dataDir, "--stop-on-stdin-close"],
      { env: { ...process.env, RUNNEL_LOG: "warn" }, stdio: ["pipe", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
      if (process.env.RUNNEL_E2E_VERBOSE) process.stderr.write(chunk);
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`runnel serve did not print its address within 120 s; stderr: ${stderr}`));
    }, 120_000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`runnel serve exited early (${code ?? signal}); stderr: ${stderr}`));
    });
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const match = /^runnel listening on http:\/\/(\S+)/.exec(line);
      if (!match) return;
      clearTimeout(timer);
      const address = match[1];
      child.removeAllListeners("exit");
      const exited = new Promise((done) => child.once("exit", done));
      resolve({
        address,
        url: `http://${address}`,
        pid: child.pid,
        /**
         * Stop it the way an operator does (SIGTERM) and wait for the exit. A server started
         * with --stop-on-stdin-close does not finish exiting on SIGTERM while its stdin stays
         * open (a server bug, reported), so after a short grace its stdin is closed too.
         */
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          const closer = setTimeout(() => {
            process.stderr.write("runnel serve still running 3 s after SIGTERM; closing its stdin\n");
            child.stdin.end();
          }, 3_000);
          const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
          await exited;
          clearTimeout(closer);
          clearTimeout(killer);
        },
      });
    });
  });
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}
