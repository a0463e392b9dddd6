#!/usr/bin/env bash
# THE test command: installs every test dependency (scripts/install-test-deps.sh: interop peers,
# Autobahn), then runs the whole workspace's tests in release mode (the 1 MiB and soak-style tests
# are slow in debug builds). Extra arguments go to `cargo test`, e.g. `scripts/test.sh -- --nocapture`.
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-test-deps.sh
cargo test --workspace --release "$@"
