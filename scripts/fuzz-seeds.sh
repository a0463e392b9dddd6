#!/usr/bin/env bash
# Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/ from the test
# vectors and in-memory exchanges of every implemented variant
# (hybi_proto::fuzzing::seeds). Re-run it when a variant lands; stable toolchain is enough.
set -euo pipefail
cd "$(dirname "$0")/.."
HYBI_FUZZ_CORPUS="$PWD/fuzz/corpus" cargo test -q -p hybi-proto --lib fuzzing::tests::write_fuzz_seeds -- --ignored
du -sh fuzz/corpus/* 2>/dev/null
