#!/usr/bin/python3
"""Build every Rust test binary of the workspace, then run them in two lanes at once.

`cargo test` runs its test binaries one after another, so the whole suite takes the sum of
every binary's slowest test. Most of that is waiting (servers starting, sandboxes, toolchains),
so two lanes suit two cores: one runs the language suites (every toolchain through the real
sandbox: the longest binaries), the other everything else in cargo's order. Each binary still
runs its own tests two at a time, from its package's directory and with the variables cargo
sets, exactly as `cargo test` would run it. A binary's output is printed whole when it ends, so
the log reads binary by binary; its start and its time are printed too.

Every binary runs even when one fails; the exit status is non-zero if any did. Doc tests run
last, through cargo. Arguments after `--` go to every test binary (for example a filter).

Usage: scripts/run-tests.py [-- ARGS...]
"""

import json
import os
import subprocess
import sys
import threading
import time

# The language suites, in the order their lane runs them (longest first).
LANGUAGE_LANE = [
    ("runnel-cli", "conformance"),
    ("runnel-languages", "repl"),
    ("runnel-cli", "warm_compiler"),
]

print_lock = threading.Lock()


def say(text):
    with print_lock:
        print(text, flush=True)


def build():
    """Build the test binaries; returns them in cargo's order."""
    command = [
        "cargo", "test", "--workspace", "--locked", "--no-run",
        "--message-format=json-render-diagnostics",
    ]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"run-tests: building the tests failed ({' '.join(command)})")
    binaries = []
    for line in done.stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-artifact" or not message.get("executable"):
            continue
        if not message.get("profile", {}).get("test"):
            continue
        target = message["target"]
        manifest = message["manifest_path"]
        package = package_name(message["package_id"], manifest)
        binaries.append({
            "package": package,
            "name": target["name"],
            "kind": target["kind"][0],
            "src": os.path.relpath(target["src_path"], os.path.dirname(manifest)),
            "dir": os.path.dirname(manifest),
            "exe": message["executable"],
        })
    return binaries


def package_name(package_id, manifest):
    """The package's name: from the manifest path's folder's Cargo.toml."""
    with open(manifest, encoding="utf-8") as file:
        for line in file:
            if line.startswith("name"):
                return line.split("=", 1)[1].strip().strip('"')
    return package_id


def run(binary, lane, args, results):
    label = f"{binary['src']} ({binary['package']})"
    say(f"     Running {label} [{lane}]")
    env = dict(os.environ)
    env["CARGO_MANIFEST_DIR"] = binary["dir"]
    env["CARGO_PKG_NAME"] = binary["package"]
    env["CARGO_CRATE_NAME"] = binary["name"].replace("-", "_")
    started = time.monotonic()
    done = subprocess.run(
        [binary["exe"], "--test-threads", "2", *args],
        cwd=binary["dir"], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    seconds = time.monotonic() - started
    output = done.stdout.decode("utf-8", "replace")
    verdict = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    say(f"---- {label} [{lane}]: {verdict} in {seconds:.1f}s\n{output}")
    results.append((label, done.returncode, seconds))


def lane(name, binaries, args, results):
    for binary in binaries:
        run(binary, name, args, results)


def main():
    args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    binaries = build()
    by_key = {(b["package"], b["name"]): b for b in binaries if b["kind"] == "test"}
    missing = [key for key in LANGUAGE_LANE if key not in by_key]
    if missing:
        sys.exit(f"run-tests: no test binary for {missing}: update LANGUAGE_LANE")
    languages = [by_key[key] for key in LANGUAGE_LANE]
    rest = [b for b in binaries if b not in languages]
    results = []
    started = time.monotonic()
    lanes = [
        threading.Thread(target=lane, args=("languages", languages, args, results)),
        threading.Thread(target=lane, args=("rest", rest, args, results)),
    ]
    for thread in lanes:
        thread.start()
    for thread in lanes:
        thread.join()
    say(f"run-tests: {len(results)} test binaries in {time.monotonic() - started:.0f}s")
    slowest = sorted(results, key=lambda result: -result[2])[:8]
    say("run-tests: slowest: " + ", ".join(f"{label} {s:.0f}s" for label, _, s in slowest))
    doc = subprocess.run(["cargo", "test", "--workspace", "--locked", "--doc"])
    failed = [label for label, code, _ in results if code != 0]
    if doc.returncode != 0:
        failed.append("doc tests")
    if failed:
        sys.exit("run-tests: failed: " + ", ".join(failed))


if __name__ == "__main__":
    main()
