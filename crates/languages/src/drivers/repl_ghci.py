# Runnel's session driver for Haskell (crates/languages/src/repl.rs describes the protocol): a
# Python wrapper around one GHCi. Cells arrive as JSON lines on fd 3; events leave on fd 4.
#
# GHCi keeps stdin (the user's: getLine reads what the client sends) and stdout, and takes its
# commands from a pipe of its own through a macro (:runnelNext reads one command block and queues
# it, followed by itself), so it never reads commands from stdin. A cell is split into top-level
# chunks: declarations that belong together (equations and signatures) go in one :{ :} block,
# each statement, import and GHCi command on its own. After each chunk :runnelEnd flushes stdout
# and writes a chunk marker to stderr, which this wrapper reads and forwards (marker stripped):
# GHCi's own error reports there ("<interactive>:1:1: error:", "*** Exception: ...",
# "Interrupted.") end the cell with the rest of its chunks skipped. A cell that defines `main`
# and runs nothing else runs `main`, so a whole program pasted in runs as it would on its own.
# SIGINT: GHCi runs in a process group of its own; this wrapper passes SIGINT on while one of
# the user's chunks runs (GHCi interrupts the statement), again if the chunk goes on, and ends
# the cell after that chunk.
import ctypes
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

CHUNK_BEGIN = b"\x1erunnel-chunk-begin\x1e"
CHUNK_END = b"\x1erunnel-chunk-end\x1e"

SCRIPT = r""":set prompt ""
:set prompt-cont ""
import qualified System.IO as RunnelIO
import qualified Control.Exception as RunnelE
:{
runnelCommands :: RunnelIO.Handle -> IO String
runnelCommands h = (RunnelIO.hGetLine h >>= \l -> return (read l ++ "\n:runnelNext"))
  `RunnelE.catch` \e -> case e of
    RunnelE.UserInterrupt -> runnelCommands h
    _ -> RunnelE.throwIO e
:}
runnelHandle <- RunnelIO.openFile "/proc/self/fd/3" RunnelIO.ReadMode
:def runnelNext (\_ -> runnelCommands runnelHandle `RunnelE.catch` (\e -> const (return ":quit") (e :: RunnelE.IOException)))
:def runnelBegin (\_ -> RunnelIO.hPutStr RunnelIO.stderr "\x1erunnel-chunk-begin\x1e" >> RunnelIO.hFlush RunnelIO.stderr >> return "")
:def runnelEnd (\_ -> RunnelE.uninterruptibleMask_ (RunnelIO.hFlush RunnelIO.stdout >> RunnelIO.hFlush RunnelIO.stderr >> RunnelIO.hPutStr RunnelIO.stderr "\x1erunnel-chunk-end\x1e" >> RunnelIO.hFlush RunnelIO.stderr) >> return "")
:runnelNext
"""

DECLARATION = re.compile(
    r"(data|type|newtype|class|instance|deriving|infix[lr]?|foreign|pattern|default)\b|\{-#"
)
STATEMENT = re.compile(r"(let|do|if|case|print|putStr|putStrLn|mapM_|forM_|when|unless)\b")


def top_level_equals(line):
    """Whether `line` has a binding `=` outside brackets and strings (not ==, =>, <=, >=, /=)."""
    depth, quote, previous = 0, None, ""
    for index, char in enumerate(line):
        following = line[index + 1] if index + 1 < len(line) else ""
        if quote:
            if char == "\\":
                previous = ""
                continue
            if char == quote:
                quote = None
        elif char in "\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "-" and following == "-" and previous in ("", " "):
            return False
        elif char == "<" and following == "-" and depth == 0:
            return False
        elif char == "=" and depth == 0 and following not in ("=", ">") and previous not in (
            "=", "<", ">", "/", ":", "!", "|", "&", "*", "+", "-", "$", ".", "^"
        ):
            return True
        previous = char
    return False


def kind(line):
    if line.startswith("import "):
        return "import"
    if line.startswith(":"):
        return "command"
    if DECLARATION.match(line):
        return "declaration"
    if STATEMENT.match(line):
        return "statement"
    head = line.split("=", 1)[0]
    if re.match(r"[\w'(),\s]+::", head) and not line.startswith("("):
        return "declaration"
    if re.match(r"\(?[\w'.,\s]+\)?\s*::", line):
        return "declaration"
    if top_level_equals(line):
        return "declaration"
    return "statement"


def chunks(code):
    """[(kind, text, names)]: top-level chunks, continuation lines attached; consecutive
    declarations go together (a signature and its equations must)."""
    found = []
    for line in code.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if line[:1] in (" ", "\t") or stripped == "" or stripped.startswith("--"):
            if found:
                found[-1]["lines"].append(line)
            continue
        what = "module" if re.match(r"module\s", line) else kind(line)
        name = re.match(r"[a-z_][\w']*", line) if what == "declaration" else None
        if found and what == "declaration" and found[-1]["kind"] == "declaration":
            found[-1]["lines"].append(line)
        else:
            found.append({"kind": what, "lines": [line], "names": []})
        if name:
            found[-1]["names"].append(name.group(0))
    result = []
    for item in found:
        text = "\n".join(item["lines"]).rstrip()
        # `module Main where` (with its export list) is dropped: GHCi has one interactive module.
        if item["kind"] != "module" and text:
            result.append((item["kind"], text, item["names"]))
    return result


def commands(what, text):
    if what in ("import", "command") or "\n" not in text:
        return text
    return ":{\n" + text + "\n:}"


def haskell_string(text):
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif 32 <= code < 127:
            out.append(char)
        else:
            out.append("\\%d\\&" % code)
    out.append('"')
    return "".join(out)


def main():
    driver = sys.argv[0]
    try:
        os.unlink(driver)
    except OSError:
        pass
    interrupted = []  # times of the SIGINTs of the running cell
    # GHCi runs in a process group of its own: a SIGINT while it runs its own macros (between
    # the user's statements) would lose its command loop. This wrapper passes SIGINT on only
    # while a chunk runs, between the chunk's begin and end markers.
    in_chunk = []
    # Times this wrapper passed SIGINT on during the running chunk. A burst of SIGINTs (a user
    # pressing Ctrl-C again and again) is passed on once: the second would land while GHCi
    # reports the first or runs :runnelEnd, where it ends GHCi's command loop. Once GHCi has
    # written "Interrupted." for the chunk, nothing more is passed on.
    forwarded = []
    settled = []

    def forward_interrupt():
        now = time.monotonic()
        if not in_chunk or settled or (forwarded and now - forwarded[-1] < 0.5):
            return
        forwarded.append(now)
        try:
            os.kill(ghci.pid, signal.SIGINT)
        except OSError:
            pass

    def on_interrupt(_signal, _frame):
        interrupted.append(time.monotonic())
        forward_interrupt()

    signal.signal(signal.SIGINT, on_interrupt)
    app_dir = os.path.join(os.environ.get("HOME", "/work"), ".ghc")
    had_app_dir = os.path.exists(app_dir)
    control_in = os.fdopen(3, "rb", buffering=0)
    control_out = os.fdopen(4, "wb", buffering=0)
    script = tempfile.NamedTemporaryFile("w", suffix=".ghci", delete=False)
    script.write(SCRIPT)
    script.close()
    to_ghci_read, to_ghci = os.pipe()
    errors_read, errors_write = os.pipe()

    def child_fds():
        os.dup2(to_ghci_read, 3)
        os.dup2(errors_write, 2)
        os.close(4)
        os.setpgid(0, 0)
        # Outside the driver's group, GHCi would outlive a kill of the group: it dies with
        # this wrapper instead (PR_SET_PDEATHSIG).
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    ghci = subprocess.Popen(
        sys.argv[1:] + ["-ghci-script", script.name],
        stdin=0,
        stdout=1,
        preexec_fn=child_fds,
        pass_fds=(3,),
    )
    os.close(to_ghci_read)
    os.close(errors_write)
    pending = bytearray()

    def send(message):
        control_out.write(json.dumps(message).encode() + b"\n")

    def run_chunk(text):
        """Run one block of GHCi commands; the stderr it wrote (forwarded already) or None if
        GHCi is gone."""
        frame = ":runnelBegin\n" + text + "\n:runnelEnd"
        os.write(to_ghci, (haskell_string(frame) + "\n").encode())
        seen = bytearray()
        while True:
            begin, end = pending.find(CHUNK_BEGIN), pending.find(CHUNK_END)
            found = min((at, marker) for at, marker in ((begin, CHUNK_BEGIN), (end, CHUNK_END))
                        if at >= 0) if begin >= 0 or end >= 0 else None
            if found:
                at, marker = found
                if marker == CHUNK_END:
                    os.write(2, bytes(pending[:at]))
                    seen.extend(pending[:at])
                else:
                    # Before the chunk began: GHCi's own output, not the chunk's. An
                    # "Interrupted." there is the late report of a SIGINT of a burst that hit
                    # GHCi after the cell it interrupted was over: that cell was reported
                    # interrupted already, so it is dropped, never charged to this chunk.
                    stale = re.sub(rb"(?m)^Interrupted\.\r?\n?", b"", bytes(pending[:at]))
                    os.write(2, stale)
                del pending[: at + len(marker)]
                if marker == CHUNK_END:
                    del in_chunk[:]
                    return bytes(seen)
                del forwarded[:]
                del settled[:]
                in_chunk.append(True)
                if interrupted:
                    forward_interrupt()
                continue
            # Forward all but a tail that may be the start of a marker.
            keep = 0
            for size in range(min(len(pending), len(CHUNK_BEGIN) - 1), 0, -1):
                tail = bytes(pending[-size:])
                if CHUNK_BEGIN.startswith(tail) or CHUNK_END.startswith(tail):
                    keep = size
                    break
            # Before the begin marker, wait for it (it follows at once): what comes first is
            # handled with it, above.
            if len(pending) > keep and in_chunk:
                os.write(2, bytes(pending[: len(pending) - keep]))
                seen.extend(pending[: len(pending) - keep])
                del pending[: len(pending) - keep]
                if in_chunk and re.search(rb"^Interrupted\.$", bytes(seen), re.M):
                    settled.append(True)
            # A statement may not take the first SIGINT (GHCi checks for it as it allocates):
            # while the chunk goes on, it gets it again.
            if interrupted and forwarded:
                forward_interrupt()
            if not select.select([errors_read], [], [], 0.25)[0]:
                continue
            data = os.read(errors_read, 65536)
            if not data:
                return None
            pending.extend(data)

    def failure(stderr):
        text = stderr.decode("utf-8", "replace")
        if re.search(r"^Interrupted\.$", text, re.M):
            return "KeyboardInterrupt", ""
        found = re.search(r"^\*\*\* Exception: (.*)$", text, re.M)
        if found:
            return "Exception", found.group(1).strip()
        found = re.search(r"^<interactive>:[\d:()\-,]+ error:(.*)$", text, re.M)
        if found:
            message = found.group(1).strip()
            if not message:
                rest = text[found.end():].strip().splitlines()
                message = rest[0].strip() if rest else ""
            return "CompileError", message.lstrip("• ").strip()
        return None

    # The script has run once GHCi answers a first (empty) chunk.
    started = run_chunk("")
    os.unlink(script.name)
    if not had_app_dir:
        try:
            os.rmdir(app_dir)  # GHCi's empty ~/.ghc: not left in the user's work directory
        except OSError:
            pass
    if started is None:
        sys.stderr.write("ghci did not start\n")
        return
    send({"op": "ready"})
    buffered = b""
    while True:
        while b"\n" not in buffered:
            data = control_in.read(65536)
            if not data:
                os.close(to_ghci)  # GHCi's :runnelNext reads the end and quits
                try:
                    ghci.wait(2)
                except subprocess.TimeoutExpired:
                    ghci.kill()
                if not had_app_dir:
                    try:
                        os.rmdir(app_dir)
                    except OSError:
                        pass
                return
            buffered += data
        line, buffered = buffered.split(b"\n", 1)
        if not line.strip():
            continue
        message = json.loads(line)
        if message.get("op") != "execute":
            continue
        status, ename, evalue = "ok", None, None
        del interrupted[:]
        parts = chunks(message.get("code", ""))
        names = [name for what, _, found in parts if what == "declaration" for name in found]
        if "main" in names and all(what != "statement" for what, _, _ in parts):
            parts.append(("statement", "main", []))
        alive = True
        for what, text, _ in parts:
            stderr = run_chunk(commands(what, text))
            if stderr is None:
                alive = False
                break
            failed = ("KeyboardInterrupt", "") if interrupted else failure(stderr)
            if failed:
                status, (ename, evalue) = "error", failed
                break
        if not alive:
            return
        marker = message.get("marker", "").encode()
        os.write(1, marker)
        os.write(2, marker)
        send({"op": "done", "id": message.get("id"), "status": status, "ename": ename,
              "evalue": evalue})


main()
