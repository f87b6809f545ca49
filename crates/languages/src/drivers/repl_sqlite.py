# Runnel's session driver for SQL (crates/languages/src/repl.rs describes the protocol): a thin
# wrapper, as the sqlite3 shell cannot speak the protocol itself. One `sqlite3 -batch :memory:`
# runs for the whole session, reading its commands from a pipe (`.read /proc/self/fd/N`), so its
# stdin stays the user's (`.import /dev/stdin t`). Each cell is written to a file and `.read`;
# then a `.print` of a random token on the shell's stdout tells where the cell's output ends.
# Tables, views and settings persist; the cell failed if the shell wrote to stderr (sqlite3
# reports every error there and has no other status). SIGINT is passed on: it interrupts the
# running query.
import json
import os
import secrets
import selectors
import signal
import subprocess
import sys

SQLITE = "/usr/bin/sqlite3"


def main():
    try:
        os.unlink(sys.argv[0])
    except OSError:
        pass
    cell_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), ".runnel-cell.sql")
    commands_read, commands_write = os.pipe()
    shell = subprocess.Popen(
        [SQLITE, "-batch", ":memory:", f".read /proc/self/fd/{commands_read}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(commands_read,),
    )
    os.close(commands_read)
    commands = os.fdopen(commands_write, "w", encoding="utf-8")
    signal.signal(signal.SIGINT, lambda *_: shell.send_signal(signal.SIGINT))
    out_fd, err_fd = shell.stdout.fileno(), shell.stderr.fileno()
    selector = selectors.DefaultSelector()
    selector.register(out_fd, selectors.EVENT_READ)
    selector.register(err_fd, selectors.EVENT_READ)
    control_in = os.fdopen(3, "rb")
    control_out = os.fdopen(4, "wb", buffering=0)

    def send(message):
        control_out.write(json.dumps(message).encode() + b"\n")

    def run(code):
        """Run one cell; True if the shell reported an error, None if it is gone."""
        with open(cell_file, "w", encoding="utf-8") as cell:
            cell.write(code)
            cell.write("\n")
        token = f"runnel-end-{secrets.token_hex(16)}".encode()
        commands.write(f".read {cell_file}\n.output stdout\n.print {token.decode()}\n")
        commands.flush()
        line = token + b"\n"
        pending = b""
        errored = False
        while True:
            for key, _ in selector.select():
                data = os.read(key.fd, 65536)
                if not data:
                    return None
                if key.fd == err_fd:
                    os.write(2, data)
                    errored = True
                    continue
                pending += data
                end = pending.find(line)
                if end >= 0:
                    os.write(1, pending[:end])
                    os.set_blocking(err_fd, False)
                    try:
                        while data := os.read(err_fd, 65536):
                            os.write(2, data)
                            errored = True
                    except BlockingIOError:
                        pass
                    os.set_blocking(err_fd, True)
                    return errored
                hold = next(
                    (size for size in range(min(len(line) - 1, len(pending)), 0, -1)
                     if line.startswith(pending[-size:])),
                    0,
                )
                os.write(1, pending[: len(pending) - hold])
                pending = pending[len(pending) - hold:]

    send({"op": "ready"})
    for raw in control_in:
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(message, dict) or message.get("op") != "execute":
            continue
        errored = run(message.get("code", ""))
        if errored is None:
            break
        marker = message.get("marker", "").encode()
        os.write(1, marker)
        os.write(2, marker)
        done = {"op": "done", "id": message.get("id"), "status": "ok"}
        if errored:
            done.update(status="error", ename="SQLError", evalue="sqlite3 reported an error")
        send(done)
    try:
        os.unlink(cell_file)
    except OSError:
        pass


main()
