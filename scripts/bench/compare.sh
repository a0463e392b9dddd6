#!/usr/bin/env bash
# Same-session comparison, interleaved rounds: every server at every point, ROUNDS times.
# usage: compare.sh ROUNDS UWS_DIR NAME=CMD... (CMD takes port 0 / --listen 127.0.0.1:0)
set -euo pipefail
ROUNDS=$1; UWS=$2; shift 2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for r in $(seq "$ROUNDS"); do
    for point in "100 16" "10 1024" "10 65536"; do
        for spec in "$@"; do
            name=${spec%%=*}; cmd=${spec#*=}
            # shellcheck disable=SC2086
            line=$(python3 "$HERE/cpu-per-msg.py" "$UWS/load_test" $point 3 -- $cmd)
            echo "{\"name\": \"$name\", \"round\": $r, ${line#\{}"
        done
    done
done
