#!/usr/bin/env bash
# THE test command: installs every test dependency (scripts/install-test-deps.sh: interop peers,
# Autobahn, browser; scripts/install-intermediaries.sh: the real proxies), then runs the whole workspace's tests with the optimised `ci` profile of Cargo.toml (the 1 MiB and soak-style tests
# are slow in debug builds). Extra arguments go to `cargo test`, e.g. `scripts/test.sh -- --nocapture`.
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-test-deps.sh
# the real proxies of `hybi lab --real` and crates/hybi-lab/tests/real_intermediaries.rs
scripts/install-intermediaries.sh
cargo test --workspace --profile ci "$@"
