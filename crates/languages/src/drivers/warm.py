def _runnel_warm_start():
    # Runnel's warm-start driver (crates/languages/src/warm.rs). The interpreter is already up;
    # wait for one launch request on fd 3, then run the program in this very __main__ module,
    # exactly as `python3 main.py args...` would. Only modules a plain run already has loaded
    # are used (sys, os), so the program finds the interpreter as it would have.
    import sys
    import os

    driver = __file__
    main_globals = globals()
    del main_globals["_runnel_warm_start"]

    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(3, 65536)
        if not chunk:
            break
        data += chunk
    os.close(3)
    try:
        os.unlink(driver)
    except OSError:
        pass
    text = data.decode("utf-8", "surrogateescape").strip()
    if not text:
        raise SystemExit(0)
    request = _parse_json(text)
    del main_globals["_parse_json"]
    main = request["main"]
    path = os.path.join(os.getcwd(), main)

    sys.argv = [main] + list(request.get("argv", []))
    sys.orig_argv = sys.orig_argv[:1] + sys.argv
    main_globals["__file__"] = path
    main_globals["__loader__"] = type(main_globals["__loader__"])("__main__", path)

    def hide_driver(tb):
        while tb is not None and tb.tb_frame.f_code.co_filename == driver:
            tb = tb.tb_next
        return tb

    try:
        with open(path, "rb") as source_file:
            source = source_file.read()
        code = compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        # A plain run reports a syntax error without a traceback.
        error.__traceback__ = None
        sys.excepthook(type(error), error, None)
        raise SystemExit(1) from None
    except OSError as error:
        exe = sys.orig_argv[0]
        sys.stderr.write(
            f"{exe}: can't open file {path!r}: [Errno {error.errno}] {error.strerror}\n"
        )
        raise SystemExit(2) from None
    del source
    try:
        exec(code, main_globals)
    except SystemExit:
        raise
    except BaseException as error:
        error.__traceback__ = hide_driver(error.__traceback__)
        sys.last_type, sys.last_value, sys.last_traceback = type(error), error, error.__traceback__
        sys.excepthook(type(error), error, error.__traceback__)
        if isinstance(error, KeyboardInterrupt):
            # A plain run ends by re-raising SIGINT on itself after finalising.
            import atexit
            import signal

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        raise SystemExit(1) from None


def _parse_json(text):
    # A small JSON reader, so that the `json` module (and `re`, which it imports) stays out of
    # sys.modules unless the program imports it.
    pos = 0
    escapes = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

    def skip():
        nonlocal pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1

    def string():
        nonlocal pos
        pos += 1
        out = []
        while True:
            c = text[pos]
            pos += 1
            if c == '"':
                return "".join(out)
            if c != "\\":
                out.append(c)
                continue
            e = text[pos]
            pos += 1
            if e != "u":
                out.append(escapes[e])
                continue
            code = int(text[pos : pos + 4], 16)
            pos += 4
            if 0xD800 <= code < 0xDC00 and text.startswith("\\u", pos):
                low = int(text[pos + 2 : pos + 6], 16)
                if 0xDC00 <= low < 0xE000:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    pos += 6
            out.append(chr(code))

    def value():
        nonlocal pos
        skip()
        c = text[pos]
        if c == '"':
            return string()
        if c in "[{":
            pos += 1
            is_object = c == "{"
            items = {} if is_object else []
            skip()
            if text[pos] in "]}":
                pos += 1
                return items
            while True:
                if is_object:
                    skip()
                    key = string()
                    skip()
                    pos += 1  # ':'
                    items[key] = value()
                else:
                    items.append(value())
                skip()
                c = text[pos]
                pos += 1
                if c in "]}":
                    return items
                if c != ",":
                    raise ValueError("bad launch request")
        for literal, result in (("true", True), ("false", False), ("null", None)):
            if text.startswith(literal, pos):
                pos += len(literal)
                return result
        start = pos
        while pos < len(text) and text[pos] in "+-0123456789.eE":
            pos += 1
        number = text[start:pos]
        return float(number) if any(c in number for c in ".eE") else int(number)

    return value()


_runnel_warm_start()
