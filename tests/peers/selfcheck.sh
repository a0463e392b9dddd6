#!/usr/bin/env bash
# Checks the peer drivers themselves, without hybi: runs each client driver against each server
# driver it is known to interoperate with (see README.md) and expects every step to pass.
#   tests/peers/selfcheck.sh          (after scripts/install-test-deps.sh)
# Prints one line per pair and a final `N passed, M failed`; exits 1 when a pair failed.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEPS="${HYBI_DEPS:-$HOME/.cache/hybi-deps}"
export HYBI_DEPS="$DEPS" NODE_PATH="$DEPS/node/node_modules" PYTHONUNBUFFERED=1
PYWS="$DEPS/py-websockets/bin/python"
PYT3="$DEPS/py-tornado3/bin/python"
for f in "$PYWS" "$PYT3" "$NODE_PATH/ws"; do
    [ -e "$f" ] || { echo "selfcheck: $f missing: run scripts/install-test-deps.sh" >&2; exit 1; }
done

WORK="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$WORK"; }
trap cleanup EXIT

declare -A PORT
start() {  # start NAME COMMAND... : runs a server driver on port 0 and records its port
    local name="$1"; shift
    "$@" 0 > "$WORK/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        PORT[$name]="$(awk '/^listening/ {print $2; exit}' "$WORK/$name.log")"
        [ -n "${PORT[$name]}" ] && return 0
        sleep 0.1
    done
    echo "selfcheck: $name did not start:"; cat "$WORK/$name.log"; exit 1
}
start pyws "$PYWS" "$HERE/py_websockets_server.py"
start nodews node "$HERE/node_ws_server.js"
start rubygem ruby "$HERE/ruby_ws_server.rb"
start em ruby "$HERE/em_websocket_server.rb"
start faye node "$HERE/faye_server.js"
start tornado "$PYT3" "$HERE/tornado3_server.py"

passed=0; failed=0
check() {  # check SERVER CLIENT-COMMAND... (URL stands for the server's URL)
    local server="$1"; shift
    local url="ws://127.0.0.1:${PORT[$server]}/echo" args=() out
    for a in "$@"; do args+=("${a//URL/$url}"); done
    if out="$(timeout 120 "${args[@]}" 2>&1)"; then
        passed=$((passed + 1)); printf 'ok   %-8s <- %s\n' "$server" "${*//$HERE\//}"
    else
        failed=$((failed + 1)); printf 'FAIL %-8s <- %s\n' "$server" "${*//$HERE\//}"; echo "$out" | grep -v '^ok ' | sed 's/^/       /' | head -5
    fi
}

for s in pyws nodews faye; do check $s "$PYWS" "$HERE/py_websockets_client.py" URL all; done
for s in pyws nodews faye em rubygem; do check $s node "$HERE/node_ws_client.js" URL 13; done
for s in nodews em rubygem; do check $s node "$HERE/node_ws_client.js" URL 8; done
for s in pyws nodews faye em rubygem; do check $s node "$HERE/websocket_node_client.js" URL 13; done
for s in nodews em rubygem; do check $s node "$HERE/websocket_node_client.js" URL 8; done
for s in rubygem em faye; do check $s ruby "$HERE/ruby_ws_client.rb" 75 URL; done
for s in rubygem em faye tornado; do check $s ruby "$HERE/ruby_ws_client.rb" 76 URL; done
for s in rubygem em; do check $s ruby "$HERE/ruby_ws_client.rb" 3 URL; done
for v in 5 6; do check rubygem ruby "$HERE/ruby_ws_client.rb" $v URL; done
for v in 7 8; do for s in rubygem em; do check $s ruby "$HERE/ruby_ws_client.rb" $v URL; done; done
for s in rubygem em faye nodews; do check $s ruby "$HERE/ruby_ws_client.rb" 13 URL; done
for s in rubygem em faye; do check $s perl "$HERE/perl_pws_client.pl" draft-hixie-75 URL; done
check rubygem perl "$HERE/perl_pws_client.pl" draft-ietf-hybi-00 URL
for s in rubygem em nodews; do check $s perl "$HERE/perl_pws_client.pl" draft-ietf-hybi-10 URL; done
for s in rubygem em faye nodews pyws; do check $s perl "$HERE/perl_pws_client.pl" draft-ietf-hybi-17 URL; done

echo "selfcheck: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
