// The console's elements, looked up once (each lookup names the element the markup lacks).
import { byId } from "./dom.ts";

export type Mode = "oneshot" | "session";
export type Tab = "output" | "terminal" | "monitor";

export const el = {
  language: byId<HTMLSelectElement>("language"),
  example: byId<HTMLSelectElement>("example"),
  run: byId<HTMLButtonElement>("run"),
  stop: byId<HTMLButtonElement>("stop"),
  runKbd: byId("run-kbd"),
  modeButtons: [byId<HTMLButtonElement>("mode-oneshot"), byId<HTMLButtonElement>("mode-session")],
  keyButton: byId<HTMLButtonElement>("key-button"),
  fileName: byId("file-name"),
  languageVersion: byId("language-version"),
  editor: byId("editor"),
  tabs: {
    output: byId<HTMLButtonElement>("tab-output"),
    terminal: byId<HTMLButtonElement>("tab-terminal"),
    monitor: byId<HTMLButtonElement>("tab-monitor"),
  } as Record<Tab, HTMLButtonElement>,
  panels: {
    output: byId("panel-output"),
    terminal: byId("panel-terminal"),
    monitor: byId("panel-monitor"),
  } as Record<Tab, HTMLElement>,
  runState: byId("run-state"),
  output: byId<HTMLPreElement>("output"),
  outputScroll: byId("output-scroll"),
  stdinForm: byId<HTMLFormElement>("stdin-form"),
  stdinPrompt: byId("stdin-prompt"),
  stdinInput: byId<HTMLInputElement>("stdin-input"),
  stdinEof: byId<HTMLButtonElement>("stdin-eof"),
  resultBar: byId("result-bar"),
  terminal: byId("terminal"),
  terminalApp: byId<HTMLSelectElement>("terminal-app"),
  terminalStatus: byId("terminal-status"),
  terminalRestart: byId<HTMLButtonElement>("terminal-restart"),
  statusConn: byId("status-conn"),
  statusConnText: byId("status-conn-text"),
  statusUrl: byId("status-url"),
  statusLatency: byId<HTMLButtonElement>("status-latency"),
  keyDialog: byId<HTMLDialogElement>("key-dialog"),
  keyForm: byId<HTMLFormElement>("key-form"),
  keyInput: byId<HTMLInputElement>("key-input"),
  keyError: byId("key-error"),
  keyForget: byId<HTMLButtonElement>("key-forget"),
};
