#!/usr/bin/env bash
# Build the reference load generator (uWebSockets' benchmarks/load_test.c) and our uWebSockets
# echo peer (scripts/bench/uws_echo.cpp) into OUT_DIR.
#
# The uWebSockets + uSockets sources come from the crates.io crate libuwebsockets-sys 0.0.10,
# fetched through cargo into the local cargo registry cache at bench time. They are never copied
# into this repository. Idempotent: does nothing when OUT_DIR already holds binaries built from
# the same inputs (delete OUT_DIR or pass --force to rebuild).
#
# Usage: scripts/bench/build-uws.sh OUT_DIR [--force]
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 OUT_DIR [--force]" >&2
    exit 2
fi
OUT=$(realpath -m "$1")
FORCE=${2:-}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CRATE=libuwebsockets-sys
VERSION=0.0.10
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
# Architecture-specific tuning is on by default; UWS_MARCH=x86-64-v2 (say) overrides.
MARCH=${UWS_MARCH:-native}
# -w: the vendored sources warn a lot under recent gcc; none of it is ours to fix.
CFLAGS_COMMON=(-O3 "-march=$MARCH" -flto=auto -w -DLIBUS_NO_SSL)

mkdir -p "$OUT"
# What the outputs depend on: our echo server, this script, the compilers, the flags.
STAMP_INPUT=$( { cat "$HERE/uws_echo.cpp" "$HERE/build-uws.sh"; gcc --version | head -1; g++ --version | head -1; echo "$MARCH $CRATE $VERSION"; } | sha256sum | cut -d' ' -f1)
if [[ "$FORCE" != "--force" && -x "$OUT/load_test" && -x "$OUT/uws_echo" && -f "$OUT/.stamp" \
      && "$(cat "$OUT/.stamp")" == "$STAMP_INPUT" ]]; then
    echo "build-uws: up to date in $OUT"
    exit 0
fi

find_src() {
    local d
    for d in "$CARGO_HOME"/registry/src/*/"$CRATE-$VERSION"/uWebSockets; do
        if [[ -f "$d/benchmarks/load_test.c" && -f "$d/src/App.h" && -d "$d/uSockets/src" ]]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

SRC=$(find_src || true)
if [[ -z "$SRC" ]]; then
    echo "build-uws: fetching $CRATE $VERSION through cargo"
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    mkdir -p "$TMP/src"
    cat > "$TMP/Cargo.toml" <<TOML
[package]
name = "hybi-uws-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$CRATE = "=$VERSION"

[workspace]
TOML
    echo 'fn main() {}' > "$TMP/src/main.rs"
    (cd "$TMP" && cargo fetch --quiet)
    SRC=$(find_src) || { echo "build-uws: $CRATE-$VERSION sources not found under $CARGO_HOME/registry/src" >&2; exit 1; }
fi
echo "build-uws: sources in $SRC"
US="$SRC/uSockets/src"

BUILD=$(mktemp -d "$OUT/.build.XXXXXX")
cleanup_build() { rm -rf "$BUILD"; }
trap 'cleanup_build; [[ -n "${TMP:-}" ]] && rm -rf "$TMP"' EXIT

# load_test prints its figures with printf; make stdout line-buffered so that a parent reading
# it through a pipe sees every line when it is printed. (Our own code, linked in.)
cat > "$BUILD/linebuf.c" <<'C'
#include <stdio.h>
__attribute__((constructor)) static void hybi_bench_line_buffered_stdout(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
}
C

echo "build-uws: building load_test"
gcc "${CFLAGS_COMMON[@]}" -I"$US" "$US"/*.c "$US"/eventing/*.c "$US"/crypto/*.c \
    "$SRC/benchmarks/load_test.c" "$BUILD/linebuf.c" -lz -o "$BUILD/load_test"

echo "build-uws: building uws_echo"
(cd "$BUILD" && gcc "${CFLAGS_COMMON[@]}" -I"$US" -c "$US"/*.c "$US"/eventing/*.c "$US"/crypto/*.c)
g++ -std=c++20 "${CFLAGS_COMMON[@]}" -DUWS_NO_ZLIB -I"$US" -I"$SRC/src" \
    "$HERE/uws_echo.cpp" "$BUILD"/*.o -o "$BUILD/uws_echo"

mv -f "$BUILD/load_test" "$OUT/load_test"
mv -f "$BUILD/uws_echo" "$OUT/uws_echo"
echo "$STAMP_INPUT" > "$OUT/.stamp"
echo "build-uws: built $OUT/load_test and $OUT/uws_echo"
