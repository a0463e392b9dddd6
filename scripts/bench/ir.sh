#!/usr/bin/env bash
# Instructions per operation of a micro-benchmark workload (crates/hybi-proto/benches/ir.rs),
# counted by callgrind: (Ir at N iterations - Ir at 0 iterations) / N.
# usage: scripts/bench/ir.sh IR_BINARY WORKLOAD [N]
set -euo pipefail
BIN=$1; W=$2; N=${3:-2000}
ir() {
    local out; out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "$W" "$1" >/dev/null 2>&1
    grep '^totals:' "$out" | awk '{print $2}'
    rm -f "$out"
}
A=$(ir 0); B=$(ir "$N")
echo "$W $(( (B - A) / N ))"
