// The output pane: streamed chunks (stdout, stderr and compiler output told apart), the stdin
// line inline after the last chunk, and the result bar.
import type { RunResult, RunStatus } from "@runnel/client";
import { formatBytes, formatMs } from "./dom.ts";

export type Stream = "stdout" | "stderr" | "compile" | "input" | "prompt" | "info";

/** Past this many characters the oldest output is dropped (the server caps a run's output). */
const MAX_CHARS = 2_000_000;

export class OutputView {
  private chars = 0;
  private last: { stream: Stream; node: HTMLSpanElement } | null = null;
  private trailing = "";

  constructor(
    private readonly pre: HTMLPreElement,
    private readonly scroller: HTMLElement,
    private readonly stdinForm: HTMLFormElement,
  ) {}

  clear(): void {
    this.pre.replaceChildren();
    this.chars = 0;
    this.last = null;
    this.trailing = "";
  }

  /** Text after the last newline of the program's output: the prompt when it waits for input. */
  get pendingLine(): string {
    return this.trailing;
  }

  append(stream: Stream, text: string): void {
    if (!text) return;
    const stick = this.atBottom();
    if (this.last && this.last.stream === stream && this.last.node.parentNode === this.pre) {
      this.last.node.appendChild(document.createTextNode(text));
    } else {
      const node = document.createElement("span");
      node.className = `out-${stream}`;
      node.dataset.stream = stream;
      node.textContent = text;
      this.pre.appendChild(node);
      this.last = { stream, node };
    }
    if (stream === "stdout" || stream === "stderr" || stream === "prompt" || stream === "input") {
      const newline = text.lastIndexOf("\n");
      this.trailing = newline >= 0 ? text.slice(newline + 1) : this.trailing + text;
    }
    this.chars += text.length;
    if (this.chars > MAX_CHARS) this.trim();
    this.keepFormLast();
    if (stick) this.scrollToEnd();
  }

  /** A line of the console itself (not the program's), on its own line. */
  note(text: string, stream: Stream = "info"): void {
    if (this.trailing !== "") this.append("stdout", "\n");
    this.append(stream, text.endsWith("\n") ? text : text + "\n");
    this.trailing = "";
  }

  /** Move the stdin line after the last chunk, so that it continues the prompt's line. */
  keepFormLast(): void {
    if (!this.stdinForm.hidden && this.stdinForm.parentNode !== this.pre) {
      this.pre.appendChild(this.stdinForm);
    } else if (!this.stdinForm.hidden && this.pre.lastChild !== this.stdinForm) {
      this.pre.appendChild(this.stdinForm);
    }
  }

  scrollToEnd(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  private atBottom(): boolean {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight < 40;
  }

  private trim(): void {
    while (this.chars > MAX_CHARS * 0.8 && this.pre.firstChild) {
      const first = this.pre.firstChild;
      if (first === this.stdinForm) break;
      this.chars -= first.textContent?.length ?? 0;
      first.remove();
    }
    if (!this.pre.firstChild || this.pre.firstChild === this.stdinForm) this.last = null;
  }
}

/** The run state's words for each status (every `RunStatus` of the protocol has one). */
export const RUN_HEADLINES: Record<RunStatus, string> = {
  ok: "finished",
  compile_error: "compile error",
  runtime_error: "runtime error",
  timeout: "timed out",
  cpu_limit: "CPU limit",
  memory_limit: "memory limit",
  output_limit: "output limit",
  killed: "stopped",
  internal_error: "internal error",
};

/** The result bar under the output: status, exit code or signal, times, memory. */
export function showResultBar(bar: HTMLElement, result: RunResult, roundTripMs: number): void {
  const ok = result.status === "ok";
  const parts: Array<[string, string, string?]> = [];
  parts.push(["status", result.status.replace(/_/g, " "), ok ? "ok" : "error"]);
  if (result.signal) parts.push(["signal", result.signal]);
  else parts.push(["exit", String(result.exitCode ?? "–")]);
  if (result.compileTime > 0) parts.push(["compile", formatMs(result.compileTime)]);
  parts.push(["time", formatMs(result.executionTime)]);
  if (result.cpuTime > 0) parts.push(["cpu", formatMs(result.cpuTime)]);
  if (result.memory > 0) parts.push(["memory", formatBytes(result.memory)]);
  parts.push(["round trip", formatMs(roundTripMs)]);
  if (result.truncated) parts.push(["output", "truncated", "error"]);
  bar.replaceChildren(
    ...parts.map(([label, value, kind]) => {
      const item = document.createElement("span");
      item.className = `result-item${kind ? ` result-${kind}` : ""}`;
      item.dataset.field = label;
      const l = document.createElement("span");
      l.className = "result-label";
      l.textContent = label;
      const v = document.createElement("span");
      v.className = "result-value";
      v.textContent = value;
      item.append(l, v);
      return item;
    }),
  );
  bar.dataset.status = result.status;
  bar.hidden = false;
}
