#!/usr/bin/env bash
# Handshakes/s and server CPU us per handshake, per variant: the server pinned to CPU 0, the
# raw client (crates/hybi-cli/examples/handshake_rate.rs) pinned to CPU 1, 10k connections,
# 100 in flight. usage: handshake-rate.sh CLIENT_BIN PORT VARIANTS -- SERVER ARGS...
set -euo pipefail
CLIENT=$1; PORT=$2; VARIANTS=$3; shift 4
taskset -c 0 "$@" >/dev/null 2>&1 &
SP=$!
trap 'kill $SP 2>/dev/null || true' EXIT
sleep 1
for v in ${VARIANTS//,/ }; do
    taskset -c 1 "$CLIENT" 127.0.0.1:$PORT "$v" 2000 100 >/dev/null   # warm-up
    taskset -c 1 "$CLIENT" 127.0.0.1:$PORT "$v" ${TOTAL:-10000} 100 $SP
done
