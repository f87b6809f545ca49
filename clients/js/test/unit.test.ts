/**
 * Pure parts: backoff, URL derivation, the stdin log, and the rule that the browser entry
 * imports no Node built-ins (the console bundles src/index.ts with esbuild).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { backoffDelay, DEFAULTS } from "../src/index.js";
import { serverUrls } from "../src/http.js";
import { Run, StdinLog } from "../src/run.js";

test("backoff grows by factor, stays within jitter, and is capped", () => {
  const options = { ...DEFAULTS.reconnect, minDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.3 };
  assert.equal(backoffDelay(options, 1, () => 0.5), 100);
  assert.equal(backoffDelay(options, 2, () => 0.5), 200);
  assert.equal(backoffDelay(options, 3, () => 0.5), 400);
  assert.equal(backoffDelay(options, 10, () => 0.5), 1000);
  assert.equal(backoffDelay(options, 1, () => 0), 70);
  assert.equal(backoffDelay(options, 1, () => 1), 130);
  assert.equal(backoffDelay(options, 10, () => 1), 1000, "jitter never exceeds maxDelayMs");
  const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(options, 2)));
  assert.ok(seen.size > 1, "real jitter varies");
});

test("server URLs: ws and http forms, paths and schemes", () => {
  assert.deepEqual(serverUrls("ws://127.0.0.1:8080/ws"), { ws: "ws://127.0.0.1:8080/ws", http: "http://127.0.0.1:8080" });
  assert.deepEqual(serverUrls("http://127.0.0.1:8080"), { ws: "ws://127.0.0.1:8080/ws", http: "http://127.0.0.1:8080" });
  assert.deepEqual(serverUrls("https://example.org/runnel/"), { ws: "wss://example.org/runnel/ws", http: "https://example.org/runnel" });
  assert.deepEqual(serverUrls("wss://example.org"), { ws: "wss://example.org/ws", http: "https://example.org" });
  assert.throws(() => serverUrls("ftp://example.org"), /unsupported scheme/);
  assert.throws(() => serverUrls("not a url"), /invalid url/);
});

test("stdin log: acknowledged writes are dropped, the rest re-sent; without stdin_seq, sent counts as applied", () => {
  const host = { writeStdin() {}, sendSignal() {} };
  const run = new Run(host, "r1", { action: "execute", id: "r1" });
  const log = new StdinLog();
  for (const data of ["a", "b", "c", "d"]) log.add(run, data, false);
  log.sentUpTo = 3;
  log.disconnected();
  assert.equal(log.sentUpTo, 0, "after a drop nothing past the acknowledged is known to have arrived");
  log.acknowledge(2);
  assert.deepEqual(log.writes.map((write) => write.data), ["c", "d"]);
  assert.equal(log.sentUpTo, 2);
  log.sentUpTo = 4;
  log.disconnected();
  log.acknowledge(undefined);
  assert.deepEqual(log.writes, [], "an old server: what was sent is taken as applied");
});

test("the browser entry imports no Node built-ins and not ws", () => {
  const source = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "src");
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(path.join(source, file), "utf8");
    for (const match of text.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)"/gm)) {
      const specifier = match[1] as string;
      assert.ok(specifier.startsWith("./"), `${file} imports ${specifier}: the core must stay browser-safe`);
      visit(specifier.slice(2).replace(/\.js$/, ".ts"));
    }
  };
  visit("index.ts");
  assert.ok(seen.has("client.ts") && seen.has("run.ts") && seen.has("session.ts"), [...seen].join(", "));
  assert.ok(!seen.has("node.ts"));
});
