# Runnel's session driver for Python (crates/languages/src/repl.rs describes the protocol).
# Cells arrive as JSON lines on fd 3; events leave as JSON lines on fd 4. User output goes to
# the real stdout and stderr unchanged; after each cell the cell's marker is written to both.
import builtins as _builtins
import sys as _sys


def _runnel_session():
    import json
    import os
    import signal
    import traceback

    driver = __file__
    namespace = globals()
    del namespace["_runnel_session"]
    namespace["__file__"] = "<cell>"
    try:
        os.unlink(driver)
    except OSError:
        pass
    control_out = os.fdopen(4, "wb", buffering=0)
    pending = bytearray()

    def send(message):
        control_out.write(json.dumps(message).encode() + b"\n")

    def read_message():
        while True:
            newline = pending.find(b"\n")
            if newline >= 0:
                line = bytes(pending[:newline])
                del pending[: newline + 1]
                if line.strip():
                    return json.loads(line)
                continue
            chunk = os.read(3, 65536)
            if not chunk:
                return None
            pending.extend(chunk)

    current = {"input_marker": b"", "waiting": False}
    stdin_lines = bytearray()

    def line_from_stdin():
        # Input already sent to stdin (given up front, or typed before the prompt) answers
        # input() as it would in a plain run; only when there is none is the client asked.
        import select

        while stdin_lines.find(b"\n") < 0:
            try:
                readable = select.select([0], [], [], 0)[0]
            except (OSError, ValueError):
                return None
            if not readable:
                return None
            chunk = os.read(0, 65536)
            if not chunk:
                if stdin_lines:
                    break
                return None
            stdin_lines.extend(chunk)
        newline = stdin_lines.find(b"\n")
        end = len(stdin_lines) if newline < 0 else newline + 1
        line = bytes(stdin_lines[:end])
        del stdin_lines[:end]
        return line.decode("utf-8", "replace").rstrip("\n").rstrip("\r")

    def ask(prompt, password):
        line = line_from_stdin()
        if line is not None:
            _sys.stdout.write(str(prompt))
            _sys.stdout.flush()
            return line
        _sys.stdout.flush()
        _sys.stderr.flush()
        # Output written before the request reaches the client before the request does.
        os.write(1, current["input_marker"])
        os.write(2, current["input_marker"])
        send({"op": "input_request", "prompt": str(prompt), "password": password})
        reply = wait_for_reply()
        if reply is None:
            raise EOFError("EOF when reading a line")
        return reply

    def wait_for_reply():
        # The answer comes as an input_reply on fd 3, or as a line on stdin that the client
        # typed ahead and that reached the pipe just after the request went out: the first one
        # complete wins. (A reply that loses stays queued and answers the next input().)
        # Meanwhile a SIGINT interrupts the cell (see on_sigint).
        current["waiting"] = True
        try:
            return first_reply()
        finally:
            current["waiting"] = False

    def first_reply():
        import select

        stdin_open = True
        while True:
            newline = pending.find(b"\n")
            if newline >= 0:
                line = bytes(pending[:newline])
                del pending[: newline + 1]
                if line.strip():
                    message = json.loads(line)
                    if message.get("op") == "input_reply":
                        return str(message.get("value", ""))
                continue
            if stdin_lines.find(b"\n") >= 0:
                return line_from_stdin()
            watched = [3, 0] if stdin_open else [3]
            try:
                readable = select.select(watched, [], [])[0]
            except InterruptedError:
                continue
            if 0 in readable:
                chunk = os.read(0, 65536)
                if chunk:
                    stdin_lines.extend(chunk)
                else:
                    stdin_open = False
                continue
            chunk = os.read(3, 65536)
            if not chunk:
                return None
            pending.extend(chunk)

    def user_input(prompt=""):
        return ask(prompt, False)

    def user_getpass(prompt="Password: ", stream=None):
        return ask(prompt, True)

    _builtins.input = user_input
    import getpass

    getpass.getpass = user_getpass

    def on_sigint(signum, frame):
        # SIGINT interrupts the cell: KeyboardInterrupt is raised in the cell's code, or in
        # the driver while it waits for input on the cell's behalf. One that lands in the
        # driver's own work (reporting a cell, waiting for the next) is dropped, so that a
        # burst of them (Ctrl-C pressed again and again) cannot end the session.
        if frame is not None and frame.f_code.co_filename == driver and not current["waiting"]:
            return
        while frame is not None:
            if frame.f_code is run_cell.__code__:
                raise KeyboardInterrupt
            frame = frame.f_back


    def hide_driver(tb):
        while tb is not None and tb.tb_frame.f_code.co_filename == driver:
            tb = tb.tb_next
        return tb

    def run_cell(code):
        exec(compile(code, "<cell>", "exec"), namespace)

    signal.signal(signal.SIGINT, on_sigint)
    send({"op": "ready"})
    while True:
        try:
            message = read_message()
        except KeyboardInterrupt:
            continue
        if message is None:
            return
        if message.get("op") != "execute":
            continue
        status, ename, evalue = "ok", None, None
        current["input_marker"] = message.get("input_marker", "").encode()
        try:
            run_cell(message.get("code", ""))
        except SystemExit as error:
            code = error.code
            if code not in (None, 0):
                status, ename, evalue = "error", "SystemExit", str(code)
        except BaseException as error:  # the cell's error is the user's, reported as such
            status, ename, evalue = "error", type(error).__name__, str(error)
            try:
                if isinstance(error, SyntaxError):
                    traceback.print_exception(type(error), error, None)
                else:
                    traceback.print_exception(type(error), error, hide_driver(error.__traceback__))
            except BaseException:
                pass
        marker = message.get("marker", "").encode()
        while True:
            try:
                _sys.stdout.flush()
                _sys.stderr.flush()
                os.write(1, marker)
                os.write(2, marker)
                send({"op": "done", "id": message.get("id"), "status": status,
                      "ename": ename, "evalue": evalue})
                break
            except KeyboardInterrupt:
                continue


_runnel_session()
