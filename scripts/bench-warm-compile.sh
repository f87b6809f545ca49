#!/usr/bin/env bash
# Compile time of a JVM language with a cold compiler (default pool) against a warm one from the
# pool (`--pool-languages LANGUAGE`), in the same run: N distinct hello-world programs (so the
# compile cache never answers), one at a time, each waiting for a ready warm compiler.
# Usage: scripts/bench-warm-compile.sh [kotlin|scala] [N]   (a built target/release/runnel, root)
set -euo pipefail
cd "$(dirname "$0")/.."
language=${1:-kotlin}
runs=${2:-8}
case $language in
  kotlin) template='fun main() { println(\\"hello %s\\") }' ;;
  scala) template='object Main { def main(args: Array[String]): Unit = println(\\"hello %s\\") }' ;;
  *) echo "no warm compiler for $language (kotlin, scala)" >&2; exit 2 ;;
esac
bin=${RUNNEL_BIN:-target/release/runnel}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# start NAME ARGS...: a server whose stdin is a pipe this script holds (it stops when the
# script ends); sets $address and $key.
start() {
  local name=$1; shift
  mkdir -p "$work/$name"
  key=$("$bin" keys create --data-dir "$work/$name" | tail -n1)
  mkfifo "$work/$name.in"
  RUNNEL_LOG=warn "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/$name" \
    --stop-on-stdin-close "$@" < "$work/$name.in" > "$work/$name.out" 2>&1 &
  exec {holder}> "$work/$name.in"
  until grep -q "listening on" "$work/$name.out"; do sleep 0.2; done
  address=$(sed -n 's|.*listening on http://\([^ ]*\).*|\1|p' "$work/$name.out")
}
ready() { # address: wait for a warm compiler
  until curl -s "http://$1/metrics" | grep -q "runnel_pool_ready{language=\"$language\"} [1-9]"; do
    sleep 0.2
  done
}
measure() { # address key cold|warm
  for i in $(seq 1 "$runs"); do
    if [ "$3" = warm ]; then ready "$1"; fi
    # shellcheck disable=SC2059
    code=$(printf "$template" "$RANDOM $i")
    curl -s -X POST "http://$1/api/v1/execute" -H "Authorization: Bearer $2" \
      -H 'Content-Type: application/json' \
      -d "{\"language\":\"$language\",\"code\":\"$code\"}" |
      /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["status"]=="ok", r; print(r["compile_time"])'
  done
}
start cold
measure "$address" "$key" cold > "$work/cold.txt"
start warm --pool-languages "$language" --pool-size 1
measure "$address" "$key" warm > "$work/warm.txt"
/usr/bin/python3 - "$work/cold.txt" "$work/warm.txt" <<'PY'
import sys
def load(path): return sorted(float(x) for x in open(path))
def pct(xs, p): return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
cold, warm = load(sys.argv[1]), load(sys.argv[2])
print("| compiler | runs | p50 ms | p95 ms | max ms |")
print("|---|---:|---:|---:|---:|")
for name, xs in (("cold (fresh sandbox)", cold), ("warm (from the pool)", warm)):
    print(f"| {name} | {len(xs)} | {pct(xs, 50):.0f} | {pct(xs, 95):.0f} | {xs[-1]:.0f} |")
print(f"\nwarm/cold p50 ratio: {pct(warm, 50) / pct(cold, 50):.2f}")
PY
