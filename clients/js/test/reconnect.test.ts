/**
 * Fault injection: a TCP proxy between the client and a real `runnel serve` cuts every
 * connection several times during a long streaming run and during interactive stdin. The
 * caller's output must be complete, in order, and without duplicates.
 */

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";

import { ConnectionClosedError, type Run, RunnelClient, type Session } from "../src/node.js";
import {
  FaultProxy,
  resentStdin,
  type Server,
  sleep,
  startServer,
  type Tap,
  tappedWebSocket,
  waitFor,
  within,
} from "./harness.js";

let server: Server;

before(async () => {
  server = await startServer();
});

/** What each test opened, closed after it whether it passed or not. */
const opened: { clients: RunnelClient[]; proxies: FaultProxy[] } = { clients: [], proxies: [] };

afterEach(async () => {
  for (const client of opened.clients.splice(0)) client.close();
  for (const proxy of opened.proxies.splice(0)) await proxy.close();
});

after(async () => {
  await server?.stop();
});

/** A client (and proxy) closed after the test. */
function track<T extends RunnelClient | FaultProxy>(thing: T): T {
  if (thing instanceof FaultProxy) opened.proxies.push(thing);
  else opened.clients.push(thing as RunnelClient);
  return thing;
}

/** A client through a fresh proxy, with fast reconnects. */
async function connectThroughProxy(
  options: { pingIntervalMs?: number; pongTimeoutMs?: number } = {},
): Promise<{ client: RunnelClient; proxy: FaultProxy; reconnects: () => number; errors: string[]; tap: Tap }> {
  const proxy = track(await FaultProxy.start({ host: server.host, port: server.port }));
  const tap: Tap = { sent: [], received: [] };
  const client = track(new RunnelClient({
    url: proxy.url,
    apiKey: server.key,
    WebSocket: tappedWebSocket(tap),
    reconnect: { maxRetries: 20, minDelayMs: 20, maxDelayMs: 200 },
    ...options,
  }));
  let reconnected = 0;
  const errors: string[] = [];
  client.on("reconnected", () => reconnected++);
  client.on("reconnecting", ({ error }) => errors.push(error?.message ?? ""));
  await within(client.connect(), "connect through the proxy");
  return { client, proxy, reconnects: () => reconnected, errors, tap };
}

/** Python that prints `count` numbered lines, a few ms apart (about 2 s in all). */
function numberedLines(count: number): string {
  return `import time\nfor i in range(${count}):\n    print(f"line {i}", flush=True)\n    time.sleep(0.004)\n`;
}

function expectedLines(count: number): string {
  return Array.from({ length: count }, (_, index) => `line ${index}\n`).join("");
}

/** Watch a run's stdout (through callbacks and async iteration at once) and cut the proxy
 * each time the output passes one of `cutAfterLines`. */
function cutWhileStreaming(run: Run, proxy: FaultProxy, cutAfterLines: number[]) {
  let fromCallbacks = "";
  const pending = [...cutAfterLines];
  run.on("stdout", (event) => {
    fromCallbacks += event.data;
    const lines = fromCallbacks.split("\n").length - 1;
    while (pending.length > 0 && lines >= (pending[0] as number)) {
      pending.shift();
      proxy.cut();
    }
  });
  const fromIteration = (async () => {
    let text = "";
    const seqs: number[] = [];
    for await (const event of run) {
      seqs.push(event.seq);
      if (event.type === "stdout") text += event.data;
    }
    return { text, seqs };
  })();
  return { callbacks: () => fromCallbacks, fromIteration, cutsLeft: () => pending.length };
}

function assertStrictlyIncreasing(seqs: number[]): void {
  for (let index = 1; index < seqs.length; index += 1) {
    assert.ok((seqs[index] as number) > (seqs[index - 1] as number), `seq ${seqs[index]} after ${seqs[index - 1]}`);
  }
}

/** Wait for `text` in what `output()` returns. */
function waitForOutput(output: () => string, text: string): Promise<void> {
  return waitFor(() => output().includes(text), `output ${JSON.stringify(text)}`);
}

describe("sessions across cuts", () => {
  test("a long streaming run: every line once, in order, through 4 cuts", async () => {
    const { client, proxy, reconnects } = await connectThroughProxy();
    const session = await within(client.createSession({ language: "python" }), "session");
    const count = 400;
    const run = session.execute({ code: numberedLines(count) });
    const watch = cutWhileStreaming(run, proxy, [40, 120, 200, 300]);
    const result = await within(run.result, "result through the cuts");
    const iterated = await within(watch.fromIteration, "iteration");
    assert.equal(watch.cutsLeft(), 0, "every cut happened during the run");
    assert.ok(reconnects() >= 4, `reconnected ${reconnects()} times`);
    assert.equal(result.status, "ok");
    assert.equal(result.stdout, expectedLines(count));
    assert.equal(watch.callbacks(), expectedLines(count));
    assert.equal(iterated.text, expectedLines(count));
    assertStrictlyIncreasing(iterated.seqs);
    await session.close();
    client.close();
    await proxy.close();
  });

  test("interactive stdin: lines written across cuts are each read once", async () => {
    const { client, proxy, reconnects } = await connectThroughProxy();
    const session = await within(client.createSession({ language: "python" }), "session");
    const count = 8;
    const run = session.execute({ code: `for i in range(${count}):\n    print("echo", input(), flush=True)\n` });
    let output = "";
    run.on("stdout", (event) => (output += event.data));
    for (let index = 0; index < count; index += 1) {
      run.write(`word${index}\n`);
      await waitForOutput(() => output, `echo word${index}\n`);
      // Cut after the echo, then write the next line at once, while the link is down.
      if (index % 2 === 1) proxy.cut();
    }
    const result = await within(run.result, "result");
    const expected = Array.from({ length: count }, (_, index) => `echo word${index}\n`).join("");
    assert.equal(result.stdout, expected);
    assert.equal(output, expected);
    assert.ok(reconnects() >= 3, `reconnected ${reconnects()} times`);
    await session.close();
    client.close();
    await proxy.close();
  });

  test("stdin in flight at the cut is applied exactly once (stdin_seq)", async () => {
    const { client, proxy, reconnects, tap } = await connectThroughProxy();
    const session = await within(client.createSession({ language: "python" }), "session");
    const count = 6;
    const run = session.execute({ code: `for i in range(${count}):\n    print("echo", input(), flush=True)\n` });
    let output = "";
    run.on("stdout", (event) => (output += event.data));
    for (let index = 0; index < count; index += 1) {
      run.write(`word${index}\n`);
      // Cut in the same tick as the write: the frame is lost with the link, or it arrived;
      // only the server's stdin_seq in `resumed` can tell, and the client must re-send it.
      proxy.cut();
      await waitForOutput(() => output, `echo word${index}\n`);
    }
    const result = await within(run.result, "result");
    const expected = Array.from({ length: count }, (_, index) => `echo word${index}\n`).join("");
    assert.equal(result.stdout, expected);
    assert.ok(reconnects() >= count, `reconnected ${reconnects()} times`);
    // The writes lost with the link were sent again after the session's `resumed`.
    assert.ok(resentStdin(tap).length > 0, "some stdin write was re-sent after a resume");
    assert.ok(
      tap.received.some((frame) => frame.type === "session" && frame.event === "resumed" && typeof frame.stdin_seq === "number"),
      "the session's resumed carries stdin_seq",
    );
    await session.close();
    client.close();
    await proxy.close();
  });

  test("an execute lost with the link is sent again, and one that arrived runs once", async () => {
    const { client, proxy, tap } = await connectThroughProxy();
    const session = await within(client.createSession({ language: "python" }), "session");
    // Lost: the frame goes out in the same tick as the cut, so the proxy never forwards it.
    const lost = session.execute({ code: "print('lost and found')" });
    proxy.cut();
    const lostResult = await within(lost.result, "the lost execute");
    assert.equal(lostResult.stdout, "lost and found\n");
    // Arrived and queued behind a running execute when the link drops: the re-sent execute
    // is refused with `conflict` and the queued one runs, once.
    const first = session.execute({ code: "import time\nprint('first', flush=True)\ntime.sleep(0.5)" });
    await within(new Promise((resolve) => first.once("stdout", resolve)), "first running");
    const queued = session.execute({ code: "print('queued once')" });
    await waitFor(() => tap.sent.some((frame) => frame.id === queued.id), "the queued execute sent");
    await sleep(100);
    proxy.cut();
    const [firstResult, queuedResult] = await within(Promise.all([first.result, queued.result]), "both results");
    assert.equal(firstResult.stdout, "first\n");
    assert.equal(queuedResult.stdout, "queued once\n");
    const sends = tap.sent.filter((frame) => frame.action === "execute" && frame.id === queued.id);
    assert.equal(sends.length, 2, "the queued execute was sent again after the cut");
    assert.ok(
      tap.received.some((frame) => frame.type === "error" && frame.code === "conflict" && frame.id === queued.id),
      "the server refused the repeat",
    );
    const history = await within(session.execute({ code: "print('after')" }).result, "after");
    assert.equal(history.stdout, "after\n");
    await session.close();
    client.close();
    await proxy.close();
  });

  test("missed pongs: a frozen link is detected, dropped and resumed", async () => {
    const { client, proxy, errors } = await connectThroughProxy({ pingIntervalMs: 100, pongTimeoutMs: 600 });
    const session: Session = await within(client.createSession({ language: "python" }), "session");
    const count = 300;
    const run = session.execute({ code: numberedLines(count) });
    let output = "";
    let frozen = false;
    run.on("stdout", (event) => {
      output += event.data;
      if (!frozen && output.split("\n").length > 50) {
        frozen = true;
        // Bytes vanish both ways, yet neither end sees the TCP connection close.
        proxy.freeze();
      }
    });
    const result = await within(run.result, "result after the freeze");
    assert.ok(frozen, "the link was frozen during the run");
    assert.equal(result.stdout, expectedLines(count));
    assert.ok(
      errors.some((message) => /pong/.test(message)),
      `the reconnect was caused by a missed pong: ${JSON.stringify(errors)}`,
    );
    await session.close();
    client.close();
    await proxy.close();
  });
});

describe("one-shot runs across cuts", () => {
  test("a long streaming run: every line once, in order, through 4 cuts", async () => {
    const { client, proxy, reconnects } = await connectThroughProxy();
    const count = 400;
    const run = client.execute({ language: "python", code: numberedLines(count) });
    const watch = cutWhileStreaming(run, proxy, [40, 120, 200, 300]);
    const result = await within(run.result, "result through the cuts");
    const iterated = await within(watch.fromIteration, "iteration");
    assert.equal(watch.cutsLeft(), 0);
    assert.ok(reconnects() >= 4, `reconnected ${reconnects()} times`);
    assert.equal(result.status, "ok");
    assert.equal(result.stdout, expectedLines(count));
    assert.equal(watch.callbacks(), expectedLines(count));
    assert.equal(iterated.text, expectedLines(count));
    assertStrictlyIncreasing(iterated.seqs);
    client.close();
    await proxy.close();
  });

  test("an execute lost with the link is sent again after resume answers not_found", async () => {
    const { client, proxy, tap } = await connectThroughProxy();
    const run = client.execute({ language: "python", code: "print('exactly once')" });
    proxy.cut();
    const result = await within(run.result, "result");
    assert.equal(result.stdout, "exactly once\n");
    assert.ok(
      tap.received.some((frame) => frame.type === "error" && frame.code === "not_found" && frame.id === run.id),
      "the resume found no run",
    );
    assert.equal(tap.sent.filter((frame) => frame.action === "execute" && frame.id === run.id).length, 2);
    client.close();
    await proxy.close();
  });

  test("interactive stdin across cuts, with writes in flight and writes made offline", async () => {
    const { client, proxy, reconnects, tap } = await connectThroughProxy();
    const count = 9;
    const run = client.execute({ language: "python", code: `for i in range(${count}):\n    print("echo", input(), flush=True)\n` });
    let output = "";
    run.on("stdout", (event) => (output += event.data));
    await within(new Promise((resolve) => run.once("started", resolve)), "started");
    for (let index = 0; index < count; index += 1) {
      run.write(`word${index}\n`);
      if (index % 3 === 0) proxy.cut(); // the write may be lost with the link
      await waitForOutput(() => output, `echo word${index}\n`);
      if (index % 3 === 1) proxy.cut(); // the next write is made while offline
    }
    const result = await within(run.result, "result");
    const expected = Array.from({ length: count }, (_, index) => `echo word${index}\n`).join("");
    assert.equal(result.stdout, expected);
    assert.equal(output, expected);
    assert.ok(reconnects() >= 6, `reconnected ${reconnects()} times`);
    assert.ok(resentStdin(tap).length > 0, "some stdin write was re-sent after a resume");
    const resumes = tap.sent.filter((frame) => frame.action === "resume" && frame.id === run.id);
    assert.ok(resumes.length >= 6, `the run was resumed after each cut (${resumes.length})`);
    client.close();
    await proxy.close();
  });
});

describe("offline and giving up", () => {
  test("work queued while offline goes out after the reconnect", async () => {
    const { client, proxy } = await connectThroughProxy();
    const session = await within(client.createSession({ language: "python" }), "session");
    await within(session.execute({ code: "base = 10" }).result, "set");
    proxy.refuse(true);
    proxy.cut();
    await waitFor(() => client.state === "reconnecting", "the client to notice the cut");
    const oneShot = client.execute({ language: "python", code: "print(input() * 2)" });
    oneShot.write("ab\n");
    const inSession = session.execute({ code: "print(base + 5)" });
    const rtt = client.ping();
    await sleep(200);
    proxy.refuse(false);
    const [first, second] = await within(Promise.all([oneShot.result, inSession.result]), "queued runs");
    assert.equal(first.stdout, "abab\n");
    assert.equal(second.stdout, "15\n");
    assert.ok((await within(rtt, "queued ping")) >= 0);
    assert.equal(client.state, "open");
    await session.close();
    client.close();
    await proxy.close();
  });

  test("a bounded number of tries: giveup fails the runs in flight", async () => {
    const proxy = track(await FaultProxy.start({ host: server.host, port: server.port }));
    const client = track(
      new RunnelClient({
        url: proxy.url,
        apiKey: server.key,
        reconnect: { maxRetries: 3, minDelayMs: 10, maxDelayMs: 40 },
      }),
    );
    const states: string[] = [];
    client.on("state", (state) => states.push(state));
    const attempts: number[] = [];
    client.on("reconnecting", ({ attempt }) => attempts.push(attempt));
    let gaveUp: { attempts: number } | undefined;
    client.on("giveup", (info) => (gaveUp = info));
    await within(client.connect(), "connect");
    const session = await within(client.createSession({ language: "python" }), "session");
    const run = session.execute({ code: "import time\nprint('up', flush=True)\ntime.sleep(30)" });
    await within(new Promise((resolve) => run.once("stdout", resolve)), "output");
    proxy.refuse(true);
    proxy.cut();
    await assert.rejects(within(run.result, "the run to fail"), ConnectionClosedError);
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.equal(gaveUp?.attempts, 3);
    assert.deepEqual(states, ["connecting", "open", "reconnecting", "closed"]);
    assert.equal(client.state, "closed");
    await assert.rejects(client.ping(), ConnectionClosedError);
    // The session outlives the client; a new client cleans it up.
    await proxy.close();
    const direct = track(new RunnelClient({ url: server.url, apiKey: server.key }));
    await within(direct.connect(), "connect directly");
    const again = await within(direct.attachSession(session.id), "attach");
    await again.close();
    direct.close();
  });
});
