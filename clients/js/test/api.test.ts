/**
 * Every call of the SDK against a real `runnel serve`: connect, one-shot runs (callbacks,
 * async iteration, result), stdin, signals, ping and latency, sessions, files, languages,
 * stats, and the errors a caller can get.
 */

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";

import {
  AuthenticationError,
  BadRequestError,
  ConnectionClosedError,
  NotFoundError,
  type RunEvent,
  RunnelClient,
  type ConnectionState,
} from "../src/node.js";
import { startServer, type Server, within } from "./harness.js";

let server: Server;
let client: RunnelClient;
const states: ConnectionState[] = [];

before(async () => {
  server = await startServer();
  client = new RunnelClient({ url: server.url, apiKey: server.key });
  client.on("state", (state) => states.push(state));
  await within(client.connect(), "connect");
});

/** Extra clients of a test, closed after it whether it passed or not. */
const extra: RunnelClient[] = [];
function track(other: RunnelClient): RunnelClient {
  extra.push(other);
  return other;
}

afterEach(() => {
  for (const other of extra.splice(0)) other.close();
});

after(async () => {
  client?.close();
  await server?.stop();
});

describe("connection", () => {
  test("connect goes through connecting to open", () => {
    assert.deepEqual(states.slice(0, 2), ["connecting", "open"]);
    assert.equal(client.state, "open");
  });

  test("an http:// url gives the same endpoints", () => {
    const other = new RunnelClient({ url: server.httpUrl, apiKey: server.key });
    assert.equal(other.url, server.url);
    assert.equal(other.httpUrl, server.httpUrl);
  });

  test("ping measures latency: current, average, min, max", async () => {
    const seen: number[] = [];
    const off = client.on("latency", (stats) => seen.push(stats.count));
    const rtt = await within(client.ping(), "pong");
    await within(client.ping(), "pong");
    off();
    assert.ok(rtt >= 0 && Number.isFinite(rtt), `rtt ${rtt}`);
    const stats = client.latency;
    assert.ok(stats.count >= 2, `count ${stats.count}`);
    assert.ok(stats.min !== null && stats.max !== null && stats.average !== null && stats.current !== null);
    assert.ok(stats.min <= stats.average && stats.average <= stats.max, JSON.stringify(stats));
    assert.ok(stats.history.length >= 2 && stats.history.length <= 10);
    assert.ok(seen.length >= 2, "a latency event after each pong");
  });

  test("a wrong key fails connect with AuthenticationError, without retrying", async () => {
    const bad = track(new RunnelClient({ url: server.url, apiKey: "rk_not_a_key" }));
    let giveups = 0;
    bad.on("giveup", () => giveups++);
    await assert.rejects(within(bad.connect(), "refusal"), (error: unknown) => {
      assert.ok(error instanceof AuthenticationError, String(error));
      assert.equal(error.code, "unauthorized");
      assert.match(error.message, /apiKey/);
      return true;
    });
    assert.equal(bad.state, "closed");
    assert.equal(giveups, 1);
  });

  test("a server that is not there: connect gives up after maxRetries", async () => {
    const nowhere = track(
      new RunnelClient({
        url: "ws://127.0.0.1:1/ws",
        apiKey: server.key,
        reconnect: { maxRetries: 2, minDelayMs: 10, maxDelayMs: 20 },
      }),
    );
    const attempts: number[] = [];
    nowhere.on("reconnecting", ({ attempt }) => attempts.push(attempt));
    let gaveUp: number | undefined;
    nowhere.on("giveup", ({ attempts: count }) => (gaveUp = count));
    await assert.rejects(within(nowhere.connect(), "giving up"), ConnectionClosedError);
    assert.deepEqual(attempts, [1, 2]);
    assert.equal(gaveUp, 2);
  });
});

describe("one-shot runs", () => {
  test("callbacks, async iteration and result agree", async () => {
    const code = "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\nprint('bye')\nsys.exit(3)\n";
    const run = client.execute({ language: "python", code });
    let callbackStdout = "";
    let callbackStderr = "";
    run.on("stdout", (event) => (callbackStdout += event.data));
    run.on("stderr", (event) => (callbackStderr += event.data));
    let exitSeen = false;
    run.on("exit", () => (exitSeen = true));
    const events: RunEvent[] = [];
    for await (const event of run) events.push(event);
    const result = await run.result;
    assert.equal(events[0]?.type, "started");
    assert.equal(events.at(-1)?.type, "exit");
    const seqs = events.map((event) => event.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "events in seq order");
    const stdout = events.flatMap((event) => (event.type === "stdout" ? [event.data] : [])).join("");
    assert.equal(stdout, "hello\nbye\n");
    assert.equal(result.stdout, "hello\nbye\n");
    assert.equal(result.stderr, "oops\n");
    assert.equal(callbackStdout, "hello\nbye\n");
    assert.equal(callbackStderr, "oops\n");
    assert.ok(exitSeen);
    assert.equal(result.exitCode, 3);
    assert.equal(result.status, "runtime_error");
    assert.equal(result.id, run.id);
    assert.ok(result.executionTime > 0);
    // Iterating again replays the same events from the start.
    const again: RunEvent[] = [];
    for await (const event of run) again.push(event);
    assert.deepEqual(again, events);
  });

  test("stdin given up front, written, and closed", async () => {
    const code = "import sys\nfirst = input()\nrest = sys.stdin.read()\nprint(first.upper())\nprint(len(rest.splitlines()))\n";
    const run = client.execute({ language: "python", code, stdin: "abc\n" });
    run.write("one\n");
    run.write("two\n");
    run.closeStdin();
    const result = await within(run.result, "result");
    assert.equal(result.stdout, "ABC\n2\n");
    assert.equal(result.status, "ok");
  });

  test("interactive stdin: echo each line as it is written", async () => {
    const code = "for i in range(3):\n    print('echo', input(), flush=True)\n";
    const run = client.execute({ language: "python", code });
    let seen = "";
    run.on("stdout", (event) => (seen += event.data));
    for (const word of ["alpha", "beta", "gamma"]) {
      run.write(`${word}\n`);
      await within(
        new Promise<void>((resolve) => {
          const check = () => (seen.includes(`echo ${word}\n`) ? resolve() : setTimeout(check, 5));
          check();
        }),
        `echo ${word}`,
      );
    }
    const result = await within(run.result, "result");
    assert.equal(result.stdout, "echo alpha\necho beta\necho gamma\n");
  });

  test("interrupt stops a running program", async () => {
    const code = "import time\nprint('ready', flush=True)\ntime.sleep(30)\nprint('not reached')\n";
    const run = client.execute({ language: "python", code });
    run.on("stdout", (event) => {
      if (event.data.includes("ready")) run.interrupt();
    });
    const result = await within(run.result, "interrupted result");
    assert.equal(result.status, "killed");
    assert.ok(!result.stdout.includes("not reached"));
  });

  test("signal SIGKILL ends a program with that signal", async () => {
    const code = "import time\nprint('ready', flush=True)\ntime.sleep(30)\n";
    const run = client.execute({ language: "python", code });
    run.on("stdout", () => run.signal("SIGKILL"));
    const result = await within(run.result, "killed result");
    assert.equal(result.status, "killed");
    assert.equal(result.signal, "SIGKILL");
  });

  test("compile output is kept apart", async () => {
    const run = client.execute({ language: "c", code: "int main(void) { return nope; }\n" });
    const result = await within(run.result, "compile result");
    assert.equal(result.status, "compile_error");
    assert.match(result.compileOutput ?? "", /nope/);
  });

  test("an unknown language rejects the result with BadRequestError", async () => {
    const run = client.execute({ language: "no-such-language", code: "x" });
    await assert.rejects(within(run.result, "refusal"), (error: unknown) => {
      assert.ok(error instanceof BadRequestError, String(error));
      assert.equal(error.code, "unknown_language");
      return true;
    });
    // The iterator throws the same error.
    await assert.rejects(
      (async () => {
        for await (const _ of run) {
          // nothing
        }
      })(),
      BadRequestError,
    );
  });

  test("runs are independent and concurrent", async () => {
    const runs = [1, 2, 3].map((n) => client.execute({ language: "python", code: `print(${n} * 7)` }));
    const results = await within(Promise.all(runs.map((run) => run.result)), "three results");
    assert.deepEqual(
      results.map((result) => result.stdout),
      ["7\n", "14\n", "21\n"],
    );
    assert.equal(new Set(runs.map((run) => run.id)).size, 3);
  });
});

describe("sessions", () => {
  test("state persists; input_request is answered with write", async () => {
    const session = await within(client.createSession({ language: "python" }), "session");
    assert.match(session.id, /\S/);
    assert.ok(session.services.includes("shell"), `services ${session.services}`);
    const first = await within(session.execute({ code: "x = 41" }).result, "first");
    assert.equal(first.status, "ok");
    const run = session.execute({ code: "name = input('who? ')\nprint(x + 1, name)" });
    const prompts: string[] = [];
    run.on("input_request", (event) => {
      prompts.push(event.prompt);
      run.write("bob\n");
    });
    const result = await within(run.result, "second");
    assert.deepEqual(prompts, ["who? "]);
    assert.equal(result.stdout, "42 bob\n");
    await session.close();
  });

  test("restart clears state; close ends the session", async () => {
    const session = await within(client.createSession({ language: "python" }), "session");
    await within(session.execute({ code: "y = 1" }).result, "set");
    await within(session.restart(), "restart");
    const after = await within(session.execute({ code: "print(y)" }).result, "after restart");
    assert.equal(after.status, "runtime_error");
    assert.match(after.stderr, /NameError/);
    await within(session.close(), "close");
    await session.close(); // closing twice is fine
    const late = session.execute({ code: "print(1)" });
    await assert.rejects(late.result, NotFoundError);
    await assert.rejects(session.info(), NotFoundError);
  });

  test("interrupt a cell; the state lives on", async () => {
    const session = await within(client.createSession({ language: "python" }), "session");
    await within(session.execute({ code: "kept = 'yes'" }).result, "set");
    const run = session.execute({ code: "import time\nprint('ready', flush=True)\ntime.sleep(30)" });
    run.on("stdout", (event) => {
      if (event.data.includes("ready")) run.interrupt();
    });
    const result = await within(run.result, "interrupted");
    assert.equal(result.status, "killed");
    const next = await within(session.execute({ code: "print(kept)" }).result, "after interrupt");
    assert.equal(next.stdout, "yes\n");
    await session.close();
  });

  test("upload, list and download files", async () => {
    const session = await within(client.createSession({ language: "python" }), "session");
    const bytes = new Uint8Array([0, 1, 2, 250, 251, 255]);
    await session.uploadFiles([
      { name: "notes/hello.txt", content: "hello file\n" },
      { name: "blob.bin", content: bytes },
    ]);
    const files = await session.listFiles();
    const names = files.map((file) => file.name).sort();
    assert.deepEqual(names, ["blob.bin", "notes/hello.txt"]);
    assert.equal(files.find((file) => file.name === "blob.bin")?.size, bytes.length);
    assert.deepEqual(await session.downloadFile("blob.bin"), bytes);
    const read = await within(session.execute({ code: "print(open('notes/hello.txt').read(), end='')" }).result, "read");
    assert.equal(read.stdout, "hello file\n");
    await within(session.execute({ code: "open('made.txt', 'w').write('from the program')" }).result, "write");
    assert.equal(new TextDecoder().decode(await session.downloadFile("made.txt")), "from the program");
    await assert.rejects(session.downloadFile("missing.txt"), NotFoundError);
    await session.close();
  });
});

describe("http", () => {
  test("languages for every key; stats for operator keys only", async () => {
    const languages = await client.languages();
    assert.ok(languages.some((language) => language.id === "python"), "python is installed");
    await assert.rejects(client.stats(), (error: unknown) => {
      assert.ok(error instanceof AuthenticationError, String(error));
      assert.equal(error.code, "forbidden");
      assert.equal(error.status, 403);
      return true;
    });
    const operator = track(new RunnelClient({ url: server.url, apiKey: server.createKey(["--scope", "operator"]) }));
    const stats = await operator.stats();
    assert.equal(typeof stats.uptime_seconds, "number");
    assert.ok(Number(stats.executions) >= 1, JSON.stringify(stats));
  });
});

describe("close", () => {
  test("close fails what is in flight with ConnectionClosedError; connect starts again", async () => {
    const other = track(new RunnelClient({ url: server.url, apiKey: server.key }));
    await within(other.connect(), "connect");
    const run = other.execute({ language: "python", code: "import time\ntime.sleep(30)" });
    await within(new Promise((resolve) => run.once("started", resolve)), "started");
    other.close();
    await assert.rejects(run.result, ConnectionClosedError);
    assert.equal(other.state, "closed");
    await within(other.connect(), "connect again");
    const result = await within(other.execute({ language: "python", code: "print('again')" }).result, "run again");
    assert.equal(result.stdout, "again\n");
    other.close();
  });
});
