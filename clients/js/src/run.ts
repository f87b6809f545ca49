/**
 * `Run`: one execution as the caller sees it. Events arrive once each and in order (the client
 * drops replays by `seq`), through callbacks (`run.on("stdout", ...)`), through async iteration
 * (`for await (const event of run)`), and as one awaitable `run.result`.
 */

import { Emitter } from "./emitter.js";
import type { RunnelError } from "./errors.js";
import type { ClientExecute } from "./protocol.js";
import type { ExitEvent, RunEvent, RunEvents, RunResult } from "./types.js";

/** What a run needs from its client (kept narrow so that `Run` has no socket logic). */
export interface RunHost {
  writeStdin(run: Run, data: string, eof: boolean): void;
  sendSignal(run: Run, signal: string): void;
}

/** Where a run stands with the server, for the client's bookkeeping. */
export type RunPhase = "queued" | "sent" | "done";

export class Run extends Emitter<RunEvents> implements AsyncIterable<RunEvent> {
  /** The run id (client-chosen, unique). */
  readonly id: string;
  /** The session the run belongs to, if any. */
  readonly sessionId: string | undefined;
  /** Resolves with the whole outcome at `exit`; rejects if the run is lost. */
  readonly result: Promise<RunResult>;

  /** @internal the frame that starts the run. */
  readonly frame: ClientExecute;
  /** @internal */
  phase: RunPhase = "queued";
  /** @internal the socket generation the execute was sent on, or that resumed the run. */
  readyEpoch = -1;
  /** @internal the socket generation the execute went out on. */
  sentEpoch = -1;
  /** @internal the highest `seq` delivered (events at or below it are replays and dropped). */
  lastSeq = 0;
  /** @internal a `resume` is on its way and not answered yet. */
  resumePending = false;
  /** @internal whether `started` was delivered. */
  started = false;
  /** @internal the execute was sent again after a reconnect (a `conflict` answer is fine). */
  resent = false;
  /** @internal signals asked for while the run could not take them yet. */
  pendingSignals: string[] = [];
  /** @internal one-shot runs number their own stdin writes; session runs use the session's. */
  readonly stdin: StdinLog | undefined;

  readonly #host: RunHost;
  readonly #events: RunEvent[] = [];
  readonly #waiters = new Set<() => void>();
  #stdout = "";
  #stderr = "";
  #compile: string | null = null;
  #error: RunnelError | undefined;
  #done = false;
  #stdinClosed = false;
  #resolve!: (result: RunResult) => void;
  #reject!: (error: RunnelError) => void;

  /** @internal use `client.execute` or `session.execute`. */
  constructor(host: RunHost, id: string, frame: ClientExecute, sessionId?: string) {
    super();
    this.#host = host;
    this.id = id;
    this.frame = frame;
    this.sessionId = sessionId;
    this.stdin = sessionId === undefined ? new StdinLog() : undefined;
    this.result = new Promise<RunResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A caller that only uses callbacks must not get an unhandled rejection.
    this.result.catch(() => {});
  }

  /** Whether the run has ended (exit delivered, or lost). */
  get done(): boolean {
    return this.#done;
  }

  /** Write text to the program's stdin (queued while offline; each write applied once). */
  write(data: string): void {
    if (this.#done) return;
    if (this.#stdinClosed) throw new Error(`stdin of run ${this.id} is closed: write before closeStdin()`);
    if (data === "") return;
    this.#host.writeStdin(this, data, false);
  }

  /** Close the program's stdin (end of file). */
  closeStdin(): void {
    if (this.#done || this.#stdinClosed) return;
    this.#stdinClosed = true;
    this.#host.writeStdin(this, "", true);
  }

  /** Interrupt the program (SIGINT; in a session, the cell stops and the state lives on). */
  interrupt(): void {
    this.signal("SIGINT");
  }

  /** Send a signal: `SIGINT`, `SIGTERM`, `SIGKILL`, `SIGHUP`, `SIGQUIT`, `SIGUSR1`, `SIGUSR2`. */
  signal(signal: string): void {
    if (this.#done) return;
    this.#host.sendSignal(this, signal);
  }

  /** Every event from the first, in order; ends after `exit`, throws if the run is lost. */
  async *[Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    let index = 0;
    for (;;) {
      while (index < this.#events.length) {
        yield this.#events[index++] as RunEvent;
      }
      if (this.#error) throw this.#error;
      if (this.#done) return;
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }

  /** @internal deliver one event (already deduplicated by the client). */
  deliver(event: RunEvent): void {
    if (this.#done) return;
    this.lastSeq = Math.max(this.lastSeq, event.seq);
    this.#events.push(event);
    switch (event.type) {
      case "started":
        this.started = true;
        break;
      case "stdout":
      case "stderr":
        if (event.stage === "compile") this.#compile = (this.#compile ?? "") + event.data;
        else if (event.type === "stdout") this.#stdout += event.data;
        else this.#stderr += event.data;
        break;
      case "exit":
        this.#done = true;
        this.phase = "done";
        break;
      case "input_request":
        break;
    }
    this.emit(event.type, event as never);
    this.emit("event", event);
    if (event.type === "exit") this.#resolve(this.#finish(event));
    this.#wake();
  }

  /** @internal the run is lost (connection closed for good, session gone, server error). */
  fail(error: RunnelError): void {
    if (this.#done) return;
    this.#done = true;
    this.phase = "done";
    this.#error = error;
    if (this.listenerCount("error") > 0) this.emit("error", error);
    this.#reject(error);
    this.#wake();
  }

  #finish(exit: ExitEvent): RunResult {
    const { type: _type, seq: _seq, session: _session, ...info } = exit;
    return { ...info, id: this.id, stdout: this.#stdout, stderr: this.#stderr, compileOutput: this.#compile };
  }

  #wake(): void {
    for (const waiter of this.#waiters) waiter();
    this.#waiters.clear();
  }
}

/** One numbered stdin write. */
export interface StdinWrite {
  seq: number;
  run: Run;
  data: string;
  eof: boolean;
}

/**
 * The stdin writes of one run (one-shot) or one session, numbered 1, 2, 3, ... (`stdin_seq`).
 * A write stays here until a `resumed` reply says the server applied it, or its run ended, so
 * that a reconnect re-sends exactly the writes the server has not applied.
 */
export class StdinLog {
  #next = 1;
  /** Unacknowledged writes, in order. */
  writes: StdinWrite[] = [];
  /** The highest number sent on the current socket (or known applied). */
  sentUpTo = 0;
  /** The highest number sent on any earlier socket. */
  sentBefore = 0;
  /** The highest number the server said it applied. */
  acked = 0;

  add(run: Run, data: string, eof: boolean): StdinWrite {
    const write = { seq: this.#next++, run, data, eof };
    this.writes.push(write);
    return write;
  }

  /** The socket dropped: nothing past `acked` is known to have arrived. */
  disconnected(): void {
    this.sentBefore = Math.max(this.sentBefore, this.sentUpTo);
    this.sentUpTo = this.acked;
  }

  /**
   * A `resumed` reply: the server applied every write up to `seq`; forget those, and send the
   * rest again. Without `seq` the server does not number stdin (it predates exactly-once
   * stdin): what was sent is taken as applied, and only what was never sent goes out.
   */
  acknowledge(seq: number | undefined): void {
    const applied = typeof seq === "number" ? seq : this.sentBefore;
    this.acked = Math.max(this.acked, applied);
    this.writes = this.writes.filter((write) => write.seq > this.acked);
    this.sentUpTo = Math.max(this.sentUpTo, this.acked);
  }

  /** A run ended: its writes are moot. */
  forget(run: Run): void {
    this.writes = this.writes.filter((write) => write.run !== run);
  }
}
