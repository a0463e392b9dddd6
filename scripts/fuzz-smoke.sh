#!/usr/bin/env bash
# Runs every cargo-fuzz target for a short, bounded time (CI smoke; fuzz/README.md has the
# long runs). Usage: scripts/fuzz-smoke.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Needs cargo-fuzz (installed from crates.io when missing) and a nightly toolchain; on a
# machine with only stable, RUSTC_BOOTSTRAP=1 lets stable accept the -Z flags cargo-fuzz
# passes. Sanitizer: none (the fuzzed code is safe Rust but for one audited unsafe block),
# with debug assertions on. Exits non-zero on the first crash; the input is left in
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-20}"
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    echo "fuzz-smoke: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/fuzz-none"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi
cargo "${toolchain[@]}" fuzz build -s none -a

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "corpus/$t"
    # Regression inputs first: each must pass.
    for r in regressions/"$t"-*; do
        [ -e "$r" ] || continue
        cargo "${toolchain[@]}" fuzz run -s none -a "$t" "$r" >/dev/null 2>"$work/$t.regression.log" || {
            echo "FAIL $t: regression input $r"; tail -20 "$work/$t.regression.log"; failed=1; }
    done
    if cargo "${toolchain[@]}" fuzz run -s none -a "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=1024 -print_final_stats=1 >"$work/$t.log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || true)
        echo "ok   $t: ${execs:-?} runs in ${secs}s"
    else
        echo "FAIL $t"; grep -A15 -E 'panicked|ERROR' "$work/$t.log" | head -40
        failed=1
    fi
done
exit $failed
