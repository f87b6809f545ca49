// End-to-end tests of the web console in a real browser (Debian's chromium driven by
// playwright-core) against a real `runnel serve` (RUNNEL_BIN). The tests run in order on one
// page, the way a person uses the console; screenshots of each view go to test-artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { createKey, makeDataDir, removeDir, startServer } from "./server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.resolve(here, "../test-artifacts");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
/** Bounds a hang; measures nothing. */
const PATIENCE = 60_000;

let dataDir;
let key;
let server;
let browser;
let context;
let page;
const pageErrors = [];

async function shot(name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

async function waitForOutput(pattern, timeout = PATIENCE) {
  await page.waitForFunction(
    // The transcript (program output and typed lines), without the input line's own text.
    ([source, flags]) =>
      new RegExp(source, flags).test(
        [...(document.getElementById("output")?.children ?? [])]
          .filter((node) => node.tagName === "SPAN")
          .map((node) => node.textContent)
          .join(""),
      ),
    [pattern.source, pattern.flags],
    { timeout },
  );
}

async function waitForResult(status) {
  await page.waitForSelector(`[data-testid="result"]:not([hidden])[data-status="${status}"]`, {
    timeout: PATIENCE,
  });
}

async function chooseLanguage(id) {
  await page.selectOption("#language", id);
}

async function chooseExample(name) {
  const value = await page.$eval(
    "#example",
    (select, wanted) => [...select.options].find((option) => option.text === wanted)?.value ?? null,
    name,
  );
  assert.ok(value !== null, `the example picker has no "${name}" example`);
  await page.selectOption("#example", value);
}

async function setCode(code) {
  await page.click(".cm-content");
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(code);
  await page.waitForFunction((expected) => {
    const view = document.querySelector(".cm-content");
    return view !== null && view.textContent?.replace(/\s/g, "") === expected.replace(/\s/g, "");
  }, code);
}

async function setMode(mode) {
  await page.click(mode === "session" ? "#mode-session" : "#mode-oneshot");
  assert.equal(await page.getAttribute(`#mode-${mode}`, "aria-checked"), "true");
}

async function runAndWait() {
  await page.click(".cm-content");
  await page.keyboard.press("Control+Enter");
}

async function connectionState() {
  return page.getAttribute("#status-conn", "data-state");
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  dataDir = makeDataDir();
  key = createKey(dataDir);
  server = await startServer({ dataDir });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  page.setDefaultTimeout(PATIENCE);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (dataDir) removeDir(dataDir);
});

test("the console asks for the API key once and connects with it", async () => {
  await page.goto(server.url);
  await page.waitForSelector("#key-dialog[open]");
  await page.waitForSelector("#language option[value=python]", { state: "attached" });
  await shot("01-key-dialog");
  await page.fill("#key-input", "rk_not_a_real_key");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => /refused/.test(document.getElementById("key-error")?.textContent ?? ""));
  await page.fill("#key-input", key);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#key-dialog:not([open])", { state: "attached" });
  await page.waitForSelector('#status-conn[data-state="open"]');
  assert.equal(await page.evaluate(() => localStorage.getItem("runnel.apiKey")), key);
  // Kept in the browser: a reload connects without asking again.
  await page.reload();
  await page.waitForSelector('#status-conn[data-state="open"]');
  assert.equal(await page.locator("#key-dialog[open]").count(), 0, "the key dialog came back after a reload");
  const languages = await page.$$eval("#language option", (options) => options.map((option) => option.value));
  for (const id of ["python", "c", "javascript"]) assert.ok(languages.includes(id), `language picker lacks ${id}: ${languages}`);
});

test("runs Python hello and shows the output, exit status and time", async () => {
  await chooseLanguage("python");
  await setMode("oneshot");
  await setCode('import sys\nprint("Hello from the console!")\nprint("to stderr", file=sys.stderr)\n');
  await runAndWait();
  await waitForResult("ok");
  await waitForOutput(/Hello from the console!/);
  const stderr = await page.locator('#output [data-stream="stderr"]').allInnerTexts();
  assert.ok(stderr.join("").includes("to stderr"), `stderr not told apart: ${stderr}`);
  const stdout = await page.locator('#output [data-stream="stdout"]').allInnerTexts();
  assert.ok(!stdout.join("").includes("to stderr"), "stderr text shown as stdout");
  const result = await page.locator("#result-bar").innerText();
  assert.match(result, /exit\s*0/);
  assert.match(result, /time\s*[\d.]+\s*(ms|s)/);
  assert.match(await page.locator("#run-state").innerText(), /finished/);
  await shot("02-python-hello");
});

test("answers input() from the input line, in one-shot and in session mode", async () => {
  await chooseLanguage("python");
  await chooseExample("Read input");
  for (const mode of ["oneshot", "session"]) {
    await setMode(mode);
    await runAndWait();
    await page.waitForSelector("#stdin-input:visible");
    await waitForOutput(/What is your name\? $/);
    if (mode === "session") {
      assert.match(await page.locator("#stdin-prompt").innerText(), /What is your name\?/);
      await shot("03-input-request");
    }
    await page.fill("#stdin-input", `Ada ${mode}`);
    await page.keyboard.press("Enter");
    await waitForResult("ok");
    await waitForOutput(new RegExp(`Hello, Ada ${mode}!`));
    const typed = await page.locator('#output [data-stream="input"]').allInnerTexts();
    assert.ok(typed.join("").includes(`Ada ${mode}`), "the typed line is not shown in the transcript");
  }
  await shot("04-input-answered");
  await setMode("oneshot");
});

test("shows a C compile error as compiler output with its status", async () => {
  await chooseLanguage("c");
  await setCode('#include <stdio.h>\nint main(void) {\n    printf("%d\\n", undefined_variable);\n    return 0;\n}\n');
  await runAndWait();
  await waitForResult("compile_error");
  const compile = (await page.locator('#output [data-stream="compile"]').allInnerTexts()).join("");
  assert.match(compile, /undefined_variable/);
  assert.match(compile, /error/);
  assert.match(await page.locator("#run-state").innerText(), /compile error/);
  assert.match(await page.locator("#result-bar").innerText(), /compile error/);
  await shot("05-c-compile-error");
});

test("Stop (Escape) interrupts a running program", async () => {
  await chooseLanguage("python");
  await setCode('import time\nprint("started", flush=True)\ntime.sleep(60)\n');
  await runAndWait();
  await waitForOutput(/started/);
  assert.equal(await page.isEnabled("#stop"), true);
  await page.keyboard.press("Escape");
  await page.waitForSelector('[data-testid="result"]:not([hidden])');
  const status = await page.getAttribute("#result-bar", "data-status");
  assert.ok(status === "killed" || status === "runtime_error", `unexpected status after Stop: ${status}`);
  assert.equal(await page.isEnabled("#run"), true);
});

test("the terminal tab types into a shell, echoes, and follows the window size", async () => {
  await chooseLanguage("python");
  await page.click("#tab-terminal");
  await page.waitForSelector('#terminal-status[data-state="open"]');
  await page.waitForSelector("#terminal .xterm-rows");
  await page.click("#terminal");
  await page.keyboard.type("echo hi\n", { delay: 20 });
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#terminal .xterm-rows > div")].some((row) => row.textContent?.trim() === "hi"),
  );
  await shot("06-terminal");
  const before = Number(await page.getAttribute("#terminal", "data-cols"));
  await page.setViewportSize({ width: 1000, height: 700 });
  await page.waitForFunction(
    (cols) => Number(document.getElementById("terminal")?.dataset.cols) !== cols,
    before,
  );
  const rows = await page.getAttribute("#terminal", "data-rows");
  const cols = await page.getAttribute("#terminal", "data-cols");
  await page.keyboard.type("stty size\n", { delay: 20 });
  await page.waitForFunction(
    (expected) =>
      [...document.querySelectorAll("#terminal .xterm-rows > div")].some((row) => row.textContent?.trim() === expected),
    `${rows} ${cols}`,
  );
  await page.setViewportSize({ width: 1280, height: 800 });
});

test("the latency monitor updates every second", async () => {
  await page.click("#tab-monitor");
  const count = async () => Number(await page.getAttribute("#lat-count", "data-count"));
  await page.waitForFunction(() => Number(document.getElementById("lat-count")?.dataset.count) >= 1);
  const first = await count();
  await page.waitForFunction(
    (n) => Number(document.getElementById("lat-count")?.dataset.count) >= n + 2,
    first,
  );
  for (const id of ["#lat-current", "#lat-average"]) {
    assert.match(await page.locator(id).innerText(), /^[\d.]+ (ms|s)$/, `${id} shows no figure`);
  }
  assert.match(await page.locator("#lat-minmax").innerText(), /^[\d.]+ \/ [\d.]+$/);
  assert.match(await page.locator("#lat-throughput").innerText(), /^\d+ msg\/s$/);
  assert.ok((await page.locator("#sparkline polyline").count()) === 1, "no sparkline drawn");
  const values = await page.locator("#spark-values span").count();
  assert.ok(values >= 2 && values <= 10, `the last pings show ${values} values`);
  assert.match(await page.locator("#monitor-state").innerText(), /connected/);
  await page.waitForFunction(() => /\d/.test(document.getElementById("stat-executions")?.textContent ?? ""));
  assert.ok(Number(await page.locator("#stat-executions").innerText()) >= 1, "server stats show no executions");
  assert.match(await page.locator("#stat-languages").innerText(), /^\d+$/);
  await shot("07-latency-monitor");
});

test("survives a server restart: reconnects by itself and runs again", async () => {
  const address = server.address;
  await server.stop();
  await page.waitForFunction(() => {
    const state = document.getElementById("status-conn")?.dataset.state;
    return state === "reconnecting" || state === "offline";
  });
  await shot("08-reconnecting");
  server = await startServer({ dataDir, listen: address });
  assert.equal(server.address, address);
  await page.waitForSelector('#status-conn[data-state="open"]', { timeout: 90_000 });
  await page.waitForFunction(() => /reconnected/.test(document.getElementById("conn-log")?.textContent ?? ""));
  assert.match(await page.locator("#reconnect-count").innerText(), /^[1-9]\d* reconnects?$/);
  await shot("09-reconnected");
  await page.click("#tab-output");
  for (const mode of ["oneshot", "session"]) {
    await setMode(mode);
    await setCode(`print("back after the restart: ${mode}")\n`);
    await runAndWait();
    await waitForResult("ok");
    await waitForOutput(new RegExp(`back after the restart: ${mode}`));
  }
  // The terminal reattaches too (its session ended with the old server).
  await page.click("#tab-terminal");
  await page.waitForSelector('#terminal-status[data-state="open"]', { timeout: 90_000 });
  await page.click("#terminal");
  await page.keyboard.type("echo again\n", { delay: 20 });
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#terminal .xterm-rows > div")].some((row) => row.textContent?.trim() === "again"),
  );
  await setMode("oneshot");
});

test("keyboard: tabs are reachable with Tab and switch with the arrow keys", async () => {
  await page.click("#tab-output");
  await page.focus("#tab-output");
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "tab-terminal");
  assert.equal(await page.getAttribute("#tab-terminal", "aria-selected"), "true");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "tab-monitor");
  await page.keyboard.press("Enter");
  assert.equal(await page.isVisible("#panel-monitor"), true);
  await page.keyboard.press("Home");
  assert.equal(await page.isVisible("#panel-output"), true);
});

test("phone layout: every view fits a 390x844 screen", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await chooseLanguage("python");
  await chooseExample("Hello");
  await page.click("#tab-output");
  await runAndWait();
  await waitForResult("ok");
  for (const [tab, name] of [["output", "10-phone-output"], ["terminal", "11-phone-terminal"], ["monitor", "12-phone-monitor"]]) {
    await page.click(`#tab-${tab}`);
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the ${tab} view is ${overflow}px wider than the phone screen`);
    await shot(name);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.click("#tab-output");
  await shot("13-desktop-final");
});

test("no script errors on the page", () => {
  assert.deepEqual(pageErrors, []);
});
