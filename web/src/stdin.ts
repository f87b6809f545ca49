// The stdin box under the output: a line typed there goes to the running program, Ctrl+D (or
// the EOF button) closes its stdin. Shown for a whole one-shot run, and for one line when a
// session cell asks for input.
import type { Run } from "@runnel/client";
import { describeError } from "./dom.ts";
import type { OutputView } from "./output.ts";

export interface StdinParts {
  form: HTMLFormElement;
  prompt: HTMLElement;
  input: HTMLInputElement;
  eof: HTMLButtonElement;
  output: OutputView;
  /** The run that gets what is typed, if one is going. */
  run: () => Run | null;
  /** The input's placeholder now. */
  placeholder: () => string;
  /** Whether the box may take the focus now (its tab is shown). */
  focusable: () => boolean;
  /** After the line a program asked for was sent. */
  onAnswered: () => void;
}

export class StdinBox {
  /** A program asked for one line (`input_request`): the box goes once it is sent. */
  awaitingInput = false;

  constructor(private readonly parts: StdinParts) {
    parts.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    parts.input.addEventListener("keydown", (event) => {
      if (event.key === "d" && event.ctrlKey) {
        event.preventDefault();
        this.close();
      }
    });
    parts.eof.addEventListener("click", () => this.close());
  }

  show(prompt: string, password: boolean): void {
    const { form, input, output } = this.parts;
    this.parts.prompt.textContent = prompt || "stdin";
    input.type = password ? "password" : "text";
    input.placeholder = this.parts.placeholder();
    form.hidden = false;
    output.keepFormLast();
    output.scrollToEnd();
    if (this.parts.focusable()) input.focus({ preventScroll: true });
  }

  hide(): void {
    this.parts.form.hidden = true;
    this.parts.input.value = "";
  }

  /** Close the running program's stdin. */
  close(): void {
    this.parts.run()?.closeStdin();
    this.parts.output.note("[stdin closed]", "info");
    this.hide();
  }

  private send(): void {
    const { input, output } = this.parts;
    const run = this.parts.run();
    if (!run) return;
    const line = input.value;
    input.value = "";
    output.append("input", `${input.type === "password" ? "••••" : line}\n`);
    try {
      run.write(`${line}\n`);
    } catch (error) {
      output.note(`stdin: ${describeError(error)}`, "stderr");
    }
    if (this.awaitingInput) {
      this.awaitingInput = false;
      this.hide();
      this.parts.onAnswered();
    } else {
      output.keepFormLast();
    }
  }
}
