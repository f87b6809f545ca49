// Runnel's web console: the editor, streamed output with stdin, the terminal and the latency
// monitor, on the JavaScript SDK (clients/js).
import "@xterm/xterm/css/xterm.css";
import "./styles.css";
import { RunnelClient } from "@runnel/client";
import type { ConnectionState, LanguageInfo, Run, RunResult, Session } from "@runnel/client";
import { describeError, errorCode } from "./dom.ts";
import { createEditor } from "./editor.ts";
import { el, type Mode, type Tab } from "./elements.ts";
import { examples } from "./languages.ts";
import { type LogKind, MonitorView } from "./monitor.ts";
import { OutputView, RUN_HEADLINES, showResultBar } from "./output.ts";
import { store } from "./store.ts";
import { StdinBox } from "./stdin.ts";
import { Tabs } from "./tabs.ts";
import { TerminalView } from "./terminal.ts";

const httpBase = `${location.protocol}//${location.host}`;
const wsBase = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}`;
const wsUrl = `${wsBase}/ws`;
const isMac = /Mac|iPhone|iPad/.test(navigator.platform);

// ---- state -----------------------------------------------------------------------------------
let client: RunnelClient | null = null;
let apiKey: string | null = store.apiKey();
let languages: LanguageInfo[] = [];
let language = store.language() ?? "python";
let mode: Mode = store.mode();
let session: { language: string; promise: Promise<Session> } | null = null;
let currentRun: Run | null = null;
let stopEscalation: ReturnType<typeof setTimeout> | undefined;
let connectionState: ConnectionState | "offline" = "connecting";
let activeTab: Tab = "output";

const output = new OutputView(el.output, el.outputScroll, el.stdinForm);
const monitor = new MonitorView();
const log = (text: string, kind?: LogKind): void => monitor.log(text, kind);
const refreshStats = (): Promise<void> => monitor.refreshStats(client);
const editor = createEditor(el.editor, {
  onRun: () => void runProgram(),
  onChange: (code) => saveDraft(code),
});

let draftTimer: ReturnType<typeof setTimeout> | undefined;
function saveDraft(code: string): void {
  clearTimeout(draftTimer);
  const lang = language;
  draftTimer = setTimeout(() => store.setDraft(lang, code), 300);
}

// ---- connection ------------------------------------------------------------------------------
function setConnectionState(state: ConnectionState | "offline", detail?: string): void {
  connectionState = state;
  const label = detail ?? (state === "open" ? "connected" : state);
  el.statusConn.dataset.state = state;
  el.statusConnText.textContent = label;
  monitor.showState(state, label);
  updateRunButtons();
}

async function connect(key: string): Promise<void> {
  client?.close();
  const next = new RunnelClient({
    url: wsUrl,
    apiKey: key,
    pingIntervalMs: 1000,
    pongTimeoutMs: 5000,
    reconnect: { maxRetries: Number.POSITIVE_INFINITY, minDelayMs: 200, maxDelayMs: 3000 },
  });
  client = next;
  session = null;
  next.on("state", (state) => {
    if (client !== next) return;
    setConnectionState(state);
  });
  next.on("reconnecting", ({ attempt, delayMs, error }) => {
    if (client !== next) return;
    const why = error ? `: ${describeError(error)}` : "";
    log(`connection lost${why}; reconnect attempt ${attempt} in ${Math.round(delayMs)} ms`, "warn");
    setConnectionState("reconnecting", `reconnecting (attempt ${attempt})`);
  });
  next.on("reconnected", ({ attempt }) => {
    if (client !== next) return;
    monitor.reconnected(attempt);
    void refreshStats();
  });
  next.on("giveup", ({ attempts, error }) => {
    if (client !== next) return;
    log(`gave up after ${attempts} attempts${error ? `: ${describeError(error)}` : ""}`, "error");
    setConnectionState("closed", "disconnected");
  });
  next.on("latency", (stats) => {
    if (client !== next) return;
    monitor.showLatency(stats);
  });
  setConnectionState("connecting");
  log(`connecting to ${wsUrl}`);
  await next.connect();
  log("connected and authenticated", "ok");
}

/** Connect with the stored key; ask for one when there is none or it is refused. */
async function start(): Promise<void> {
  if (!apiKey) {
    setConnectionState("closed", "no API key");
    openKeyDialog();
    return;
  }
  try {
    await connect(apiKey);
  } catch (error) {
    const code = errorCode(error);
    log(`could not connect: ${describeError(error)}`, "error");
    if (code === "unauthorized") {
      client?.close();
      client = null;
      setConnectionState("closed", "key refused");
      openKeyDialog("The server refused this key. Paste a valid one.");
    } else {
      setConnectionState("offline", "offline; retrying");
      setTimeout(() => void start(), 2000);
    }
  }
}

// ---- API key dialog --------------------------------------------------------------------------
function openKeyDialog(message = ""): void {
  el.keyError.textContent = message;
  el.keyInput.value = "";
  if (!el.keyDialog.open) el.keyDialog.showModal();
  el.keyInput.focus();
}

el.keyButton.addEventListener("click", () => openKeyDialog());
el.keyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = el.keyInput.value.trim();
  if (!key) {
    el.keyError.textContent = "Paste a key first.";
    return;
  }
  el.keyError.textContent = "Connecting…";
  try {
    await connect(key);
  } catch (error) {
    el.keyError.textContent =
      errorCode(error) === "unauthorized"
        ? "The server refused this key."
        : `Could not connect: ${describeError(error)}`;
    return;
  }
  apiKey = key;
  store.setApiKey(key);
  el.keyError.textContent = "";
  el.keyDialog.close();
  terminal.retarget();
  void refreshStats();
  editor.focus();
});
el.keyForget.addEventListener("click", () => {
  store.setApiKey(null);
  apiKey = null;
  client?.close();
  client = null;
  session = null;
  setConnectionState("closed", "no API key");
  el.keyError.textContent = "The key was removed from this browser.";
});

// ---- languages and examples ------------------------------------------------------------------
function authHeaders(): HeadersInit {
  return apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
}

/**
 * The language list is public and loads once, at page start: before the key dialog is answered
 * there is no client yet, so this is a plain fetch (typed with the SDK's `LanguageInfo`, the
 * protocol's generated type) rather than `client.languages()`.
 */
async function loadLanguages(): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(`${httpBase}/api/v1/languages`, { headers: authHeaders() });
      if (!response.ok) throw new Error(`GET /api/v1/languages: HTTP ${response.status}`);
      languages = (await response.json()) as LanguageInfo[];
      break;
    } catch (error) {
      if (attempt === 0) log(`could not load languages: ${describeError(error)}; retrying`, "warn");
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * 2 ** attempt)));
    }
  }
  languages.sort((a, b) => a.name.localeCompare(b.name));
  el.language.replaceChildren(
    ...languages.map((lang) => {
      const option = document.createElement("option");
      option.value = lang.id;
      option.textContent = `${lang.name} ${lang.version}`;
      return option;
    }),
  );
  if (!languages.some((lang) => lang.id === language)) {
    language = languages.find((lang) => lang.id === "python")?.id ?? languages[0]?.id ?? "python";
  }
  selectLanguage(language, { keepDraft: true });
}

function currentLanguage(): LanguageInfo | undefined {
  return languages.find((lang) => lang.id === language);
}

function selectLanguage(id: string, { keepDraft }: { keepDraft: boolean }): void {
  const changed = id !== language;
  language = id;
  store.setLanguage(id);
  el.language.value = id;
  const info = currentLanguage();
  el.fileName.textContent = info?.source_file ?? "main";
  el.languageVersion.textContent = info ? `${info.name} ${info.version}${info.compiled ? " · compiled" : ""}` : "";
  const list = examples(id);
  el.example.replaceChildren(
    ...list.map((example, index) => {
      const option = document.createElement("option");
      option.value = String(index);
      option.textContent = example.name;
      return option;
    }),
  );
  editor.setLanguage(id);
  const draft = keepDraft || changed ? store.draft(id) : null;
  editor.setCode(draft ?? list[0]?.code ?? "");
  if (changed && session && session.language !== id) {
    dropSession();
    terminal.retarget();
  }
  updateTerminalApps();
}

el.language.addEventListener("change", () => selectLanguage(el.language.value, { keepDraft: true }));
el.example.addEventListener("change", () => {
  const example = examples(language)[Number(el.example.value)];
  if (!example) return;
  editor.setCode(example.code);
  store.setDraft(language, null);
  editor.focus();
});

// ---- mode ------------------------------------------------------------------------------------
function setMode(next: Mode): void {
  mode = next;
  store.setMode(next);
  for (const button of el.modeButtons) {
    const on = button.dataset.mode === next;
    button.setAttribute("aria-checked", String(on));
    button.tabIndex = on ? 0 : -1;
  }
}
for (const button of el.modeButtons) {
  button.addEventListener("click", () => setMode(button.dataset.mode as Mode));
  button.addEventListener("keydown", (event) => {
    if (["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].includes(event.key)) {
      event.preventDefault();
      const next: Mode = mode === "oneshot" ? "session" : "oneshot";
      setMode(next);
      el.modeButtons.find((b) => b.dataset.mode === next)?.focus();
    }
  });
}

// ---- sessions --------------------------------------------------------------------------------
function ensureSession(fresh = false): Promise<Session> {
  if (fresh) dropSession(false);
  if (session && session.language === language) return session.promise;
  if (!client) return Promise.reject(new Error("not connected: enter an API key"));
  const lang = language;
  const promise = client.createSession({ language: lang });
  const entry = { language: lang, promise };
  session = entry;
  promise.then(
    (created) => {
      log(`session ${created.id} (${lang}) created`, "info");
      updateTerminalApps(created.services);
    },
    () => {
      if (session === entry) session = null;
    },
  );
  return promise;
}

function dropSession(close = true): void {
  const old = session;
  session = null;
  if (old && close) {
    old.promise.then((s) => s.close()).catch(() => {});
  }
}

function updateTerminalApps(services?: string[]): void {
  const info = currentLanguage();
  const list = services ?? ["shell", ...(info?.repl ? [language] : [])];
  const selected = el.terminalApp.value || "shell";
  el.terminalApp.replaceChildren(
    ...list.map((service) => {
      const option = document.createElement("option");
      option.value = service;
      option.textContent = service === "shell" ? "shell" : `${service} REPL`;
      return option;
    }),
  );
  el.terminalApp.value = list.includes(selected) ? selected : "shell";
  if (el.terminalApp.value !== selected) terminal.setService(el.terminalApp.value);
}

// ---- running ---------------------------------------------------------------------------------
function updateRunButtons(): void {
  const running = currentRun !== null;
  el.run.disabled = running || client === null;
  el.stop.disabled = !running;
  el.run.classList.toggle("is-running", running);
}

function setRunState(text: string, kind: "idle" | "running" | "ok" | "error" = "idle"): void {
  el.runState.textContent = text;
  el.runState.dataset.kind = kind;
}

const stdin = new StdinBox({
  form: el.stdinForm,
  prompt: el.stdinPrompt,
  input: el.stdinInput,
  eof: el.stdinEof,
  output,
  run: () => currentRun,
  placeholder: () => (mode === "session" ? "" : "stdin…"),
  focusable: () => activeTab === "output",
  onAnswered: () => el.editor.focus(),
});

async function runProgram(): Promise<void> {
  if (currentRun) return;
  if (!client) {
    openKeyDialog("Enter an API key to run programs.");
    return;
  }
  showTab("output");
  output.clear();
  stdin.hide();
  el.resultBar.hidden = true;
  el.resultBar.replaceChildren();
  stdin.awaitingInput = false;
  const code = editor.code();
  const lang = language;
  const usedMode = mode;
  setRunState(usedMode === "session" ? "starting session…" : "running…", "running");
  const begun = performance.now();
  let result: RunResult | null = null;
  for (let attempt = 0; attempt < 2 && !result; attempt++) {
    let run: Run;
    try {
      if (usedMode === "session") {
        const s = await ensureSession(attempt > 0);
        run = s.execute({ code });
      } else {
        run = client.execute({ language: lang, code });
      }
    } catch (error) {
      if (usedMode === "session" && attempt === 0 && errorCode(error) === "not_found") continue;
      output.note(describeError(error), "stderr");
      setRunState("failed", "error");
      break;
    }
    currentRun = run;
    updateRunButtons();
    setRunState("running…", "running");
    if (usedMode === "oneshot") stdin.show("", false);
    try {
      for await (const event of run) {
        switch (event.type) {
          case "stdout":
          case "stderr":
            output.append(event.stage === "compile" ? "compile" : event.type, event.data);
            break;
          case "input_request":
            stdin.awaitingInput = true;
            if (event.prompt) output.append("prompt", event.prompt);
            stdin.show(event.prompt, event.password);
            setRunState("waiting for input", "running");
            break;
          case "started":
          case "exit":
            break;
        }
      }
      result = await run.result;
    } catch (error) {
      const code = errorCode(error);
      if (usedMode === "session" && attempt === 0 && code === "not_found") {
        // The session is gone (a server restart): start a new one and run again.
        output.note("[the session ended; starting a new one]", "info");
        continue;
      }
      output.note(describeError(error), "stderr");
      setRunState(code ?? "failed", "error");
      break;
    } finally {
      currentRun = null;
      clearTimeout(stopEscalation);
      stdin.hide();
      updateRunButtons();
    }
  }
  if (result) showResult(result, performance.now() - begun);
  void refreshStats();
}

function showResult(result: RunResult, roundTripMs: number): void {
  showResultBar(el.resultBar, result, roundTripMs);
  if (result.message && result.status !== "ok") output.note(result.message, result.status === "compile_error" ? "compile" : "stderr");
  setRunState(RUN_HEADLINES[result.status] ?? result.status, result.status === "ok" ? "ok" : "error");
}

function stopProgram(): void {
  const run = currentRun;
  if (!run) return;
  run.interrupt();
  setRunState("stopping…", "running");
  clearTimeout(stopEscalation);
  stopEscalation = setTimeout(() => {
    if (currentRun === run) run.signal("SIGKILL");
  }, 1500);
}

el.run.addEventListener("click", () => void runProgram());
el.stop.addEventListener("click", () => stopProgram());

// ---- tabs ------------------------------------------------------------------------------------
const tabs = new Tabs(el.tabs, el.panels, (tab, focus) => {
  activeTab = tab;
  if (tab === "terminal") terminal.show(!focus);
});
const showTab = (tab: Tab, focus = false): void => tabs.show(tab, focus);
el.statusLatency.addEventListener("click", () => showTab("monitor", true));

// ---- terminal --------------------------------------------------------------------------------
const terminal = new TerminalView({
  container: el.terminal,
  wsBase,
  apiKey: () => apiKey,
  target: async (fresh) => {
    const s = await ensureSession(fresh);
    return { sessionId: s.id, service: el.terminalApp.value || "shell" };
  },
  sessionAlive: async (id) => {
    const response = await fetch(`${httpBase}/api/v1/sessions/${encodeURIComponent(id)}`, { headers: authHeaders() });
    if (response.status === 404) return false;
    if (!response.ok) throw new Error(`server answered ${response.status}`);
    return true;
  },
  onStatus: (text, state) => {
    el.terminalStatus.textContent = text;
    el.terminalStatus.dataset.state = state;
  },
});
el.terminalApp.addEventListener("change", () => terminal.setService(el.terminalApp.value));
el.terminalRestart.addEventListener("click", () => {
  terminal.restartProcess();
  terminal.term.focus();
});

// ---- keyboard --------------------------------------------------------------------------------
document.addEventListener(
  "keydown",
  (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      if (el.keyDialog.open) return;
      event.preventDefault();
      event.stopPropagation();
      void runProgram();
    } else if (event.key === "Escape" && currentRun && !el.keyDialog.open && !el.terminal.contains(document.activeElement)) {
      event.preventDefault();
      stopProgram();
    }
  },
  true,
);

// ---- start -----------------------------------------------------------------------------------
el.runKbd.textContent = isMac ? "⌘ ↵" : "Ctrl ↵";
el.run.title = isMac ? "Run (⌘+Enter)" : "Run (Ctrl+Enter)";
el.statusUrl.textContent = wsUrl;
setMode(mode);
setRunState("ready");
updateRunButtons();
void loadLanguages();
// start() makes the client at once (if a key is stored): the first figures come with its key.
void start();
void refreshStats();
setInterval(() => void refreshStats(), 5000);
