/**
 * The browser entry (`src/index.ts`, no `ws`) with a WHATWG WebSocket: Node 20's own, behind
 * `--experimental-websocket`, in a child process. The same code path a browser takes.
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { type Server, startServer } from "./harness.js";

let server: Server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

test("the browser entry runs code over the native WebSocket", async () => {
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "src", "index.js");
  const script = `
    import { RunnelClient } from ${JSON.stringify(entry)};
    if (typeof WebSocket !== "function") throw new Error("no global WebSocket");
    const client = new RunnelClient({ url: process.env.URL, apiKey: process.env.KEY });
    await client.connect();
    const run = client.execute({ language: "python", code: "print(input()[::-1])" });
    run.write("olleh\\n");
    const result = await run.result;
    const session = await client.createSession({ language: "python" });
    const second = await session.execute({ code: "print(6 * 7)" }).result;
    await session.close();
    console.log(JSON.stringify({ first: result.stdout, second: second.stdout, rtt: await client.ping() }));
    client.close();
  `;
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ["--experimental-websocket", "--no-warnings", "--input-type=module", "-e", script],
      { env: { ...process.env, URL: server.url, KEY: server.key }, timeout: 60_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
  const reply = JSON.parse(output.trim().split("\n").pop() as string) as { first: string; second: string; rtt: number };
  assert.equal(reply.first, "hello\n");
  assert.equal(reply.second, "42\n");
  assert.ok(reply.rtt >= 0);
});
