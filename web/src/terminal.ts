// The terminal tab: xterm.js on the session's PTY WebSocket (docs/protocol.md,
// `/stream/session/:id/pty?app=:service`, base64 JSON text frames), fitted to its box.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";

export interface PtyTarget {
  /** The session to attach to (created by the console when needed). */
  sessionId: string;
  service: string;
}

export interface TerminalOptions {
  container: HTMLElement;
  /** ws(s)://host of the server. */
  wsBase: string;
  apiKey: () => string | null;
  /** The session to attach to; `fresh` asks for a new one (the previous one is gone). */
  target: (fresh: boolean) => Promise<PtyTarget>;
  /** Whether the session still exists (false after a server restart). */
  sessionAlive: (sessionId: string) => Promise<boolean>;
  onStatus: (text: string, state: "idle" | "connecting" | "open" | "closed") => void;
}

const encoder = new TextEncoder();

function toBase64(text: string): string {
  const bytes = encoder.encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(data: string): Uint8Array {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export class TerminalView {
  readonly term: Terminal;
  private readonly fit = new FitAddon();
  private socket: WebSocket | null = null;
  private target: PtyTarget | null = null;
  private wanted = false;
  private retry = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private opened = false;
  private service = "shell";

  constructor(private readonly options: TerminalOptions) {
    this.term = new Terminal({
      cursorBlink: true,
      fontFamily: '"JetBrains Mono", "Fira Code", "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace',
      fontSize: 13,
      lineHeight: 1.15,
      scrollback: 5000,
      allowProposedApi: false,
      theme: {
        background: "#0b0d12",
        foreground: "#d7dce5",
        cursor: "#7c9cff",
        selectionBackground: "#2c3650",
        black: "#1b1f2a",
        red: "#ff7b72",
        green: "#3fd68f",
        yellow: "#f0b849",
        blue: "#7c9cff",
        magenta: "#d2a8ff",
        cyan: "#56d4dd",
        white: "#d7dce5",
        brightBlack: "#5c6578",
        brightRed: "#ffa198",
        brightGreen: "#6ee7a8",
        brightYellow: "#f8d57e",
        brightBlue: "#a5bbff",
        brightMagenta: "#e2c5ff",
        brightCyan: "#8be9f0",
        brightWhite: "#ffffff",
      },
    });
    this.term.loadAddon(this.fit);
    this.term.onData((data) => this.send({ type: "stdin", chars: toBase64(data) }));
    this.term.onResize(({ rows, cols }) => {
      options.container.dataset.rows = String(rows);
      options.container.dataset.cols = String(cols);
      this.send({ type: "resize", rows, cols });
    });
    const observer = new ResizeObserver(() => this.refit());
    observer.observe(options.container);
    window.addEventListener("resize", () => this.refit());
  }

  /** Show the terminal (first time: open xterm and connect). */
  show(focus = true): void {
    if (!this.opened) {
      this.term.open(this.options.container);
      this.opened = true;
    }
    this.refit();
    this.wanted = true;
    if (!this.socket) void this.connect(false);
    if (focus) this.term.focus();
  }

  refit(): void {
    if (!this.opened || this.options.container.offsetParent === null) return;
    try {
      this.fit.fit();
    } catch {
      // Not laid out yet.
    }
  }

  get sessionId(): string | null {
    return this.target?.sessionId ?? null;
  }

  /** Switch the app (`shell` or the language's REPL) of the current session. */
  setService(service: string): void {
    if (service === this.service) return;
    this.service = service;
    if (this.target) this.target = { ...this.target, service };
    this.reconnectNow();
  }

  /** Attach to another session (the console's session changed). */
  retarget(): void {
    this.target = null;
    if (this.wanted) this.reconnectNow();
  }

  restartProcess(): void {
    this.send({ type: "restart" });
  }

  private reconnectNow(): void {
    this.detach();
    if (this.wanted) void this.connect(false);
  }

  private detach(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onerror = null;
      socket.onmessage = null;
      socket.close();
    }
    clearInterval(this.pingTimer);
    clearTimeout(this.retryTimer);
  }

  private send(message: object): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private async connect(afterDrop: boolean): Promise<void> {
    const key = this.options.apiKey();
    if (!key) {
      this.options.onStatus("needs an API key", "closed");
      return;
    }
    this.options.onStatus(afterDrop ? "reconnecting…" : "connecting…", "connecting");
    let target: PtyTarget;
    try {
      let fresh = false;
      if (this.target && afterDrop) fresh = !(await this.options.sessionAlive(this.target.sessionId));
      if (fresh) this.term.write("\r\n\x1b[33m[the session ended; starting a new one]\x1b[0m\r\n");
      target = !this.target || fresh ? await this.options.target(fresh) : this.target;
      target = { ...target, service: this.service };
      this.target = target;
    } catch (error) {
      this.scheduleRetry(error instanceof Error ? error.message : String(error));
      return;
    }
    if (!this.wanted || this.socket) return;
    const url =
      `${this.options.wsBase}/stream/session/${encodeURIComponent(target.sessionId)}/pty` +
      `?app=${encodeURIComponent(target.service)}&api_key=${encodeURIComponent(key)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.retry = 0;
      this.options.onStatus(`${target.service} · ${target.sessionId}`, "open");
      this.refit();
      this.options.container.dataset.rows = String(this.term.rows);
      this.options.container.dataset.cols = String(this.term.cols);
      this.send({ type: "resize", rows: this.term.rows, cols: this.term.cols });
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.send({ type: "ping" }), 20_000);
    };
    socket.onmessage = (event) => {
      let message: { type?: string; data?: string };
      try {
        message = JSON.parse(String(event.data));
      } catch {
        return;
      }
      if (message.type === "out" && typeof message.data === "string") {
        this.term.write(fromBase64(message.data));
      } else if (message.type === "error") {
        this.term.write(`\r\n\x1b[31m[${message.data ?? "error"}]\x1b[0m\r\n`);
      }
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearInterval(this.pingTimer);
      this.scheduleRetry("disconnected");
    };
  }

  private scheduleRetry(reason: string): void {
    if (!this.wanted) return;
    this.retry += 1;
    const delay = Math.min(5000, 250 * 2 ** Math.min(this.retry, 5));
    this.options.onStatus(`${reason}; retrying in ${(delay / 1000).toFixed(1)} s`, "closed");
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(true), delay);
  }
}
