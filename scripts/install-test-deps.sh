#!/usr/bin/env bash
# Installs everything hybi's test suite needs, on Debian 12, as root.
# Idempotent: when everything is already in place it only checks, in a few seconds.
#
#   HYBI_DEPS   where the Node packages and Python venvs go (default ~/.cache/hybi-deps)
#
# Layout under $HYBI_DEPS (the Rust tests look there):
#   node/node_modules/{ws,websocket,websocket-driver,faye-websocket,playwright-core}
#   py-websockets/bin/python   (websockets 17.4)
#   py-tornado3/bin/python     (tornado 3.2.2)
# plus Debian packages (Ruby gems websocket, em-websocket, websocket-driver, faye-websocket; Perl
# Protocol::WebSocket; tinyproxy for the proxy tests; chromium, driven by playwright-core, for the
# browser test) and the Autobahn testsuite (../shared/autobahn/install.sh, beside the repo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="${HYBI_DEPS:-$HOME/.cache/hybi-deps}"
SHARED="$ROOT/../shared"
export DEBIAN_FRONTEND=noninteractive

NODE_PKGS=(ws@8.23.0 websocket@1.0.35 websocket-driver@0.7.4 faye-websocket@0.11.4 playwright-core@1.65.1)
APT_PKGS=(ruby ruby-websocket ruby-em-websocket ruby-websocket-driver ruby-faye-websocket libprotocol-websocket-perl
          tinyproxy chromium fonts-liberation)
PY_WEBSOCKETS=websockets==17.4
PY_TORNADO=tornado==3.2.2

installed=()
say() { echo "install-test-deps: $*"; }

# --- Debian packages -------------------------------------------------------------------------
missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        say "need root to apt-get install: ${missing[*]}" >&2
        exit 1
    fi
    say "apt-get install ${missing[*]}"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    installed+=("apt: ${missing[*]}")
fi

# --- Node packages -----------------------------------------------------------------------------
mkdir -p "$DEPS/node"
node_missing=()
for spec in "${NODE_PKGS[@]}"; do
    name="${spec%@*}"; want="${spec##*@}"
    have="$(node -e 'try{console.log(require(process.argv[1]+"/package.json").version)}catch(e){}' \
        "$DEPS/node/node_modules/$name" 2>/dev/null || true)"
    [ "$have" = "$want" ] || node_missing+=("$spec")
done
if [ ${#node_missing[@]} -gt 0 ]; then
    say "npm install ${node_missing[*]} into $DEPS/node"
    [ -f "$DEPS/node/package.json" ] || echo '{"name":"hybi-test-deps","private":true}' > "$DEPS/node/package.json"
    (cd "$DEPS/node" && npm install --no-audit --no-fund --loglevel=error "${NODE_PKGS[@]}")
    installed+=("npm: ${node_missing[*]}")
fi

# --- Python venvs ------------------------------------------------------------------------------
# venv_with DIR SPEC: a virtualenv at DIR with exactly SPEC (name==version) installed
venv_with() {
    local dir="$1" spec="$2" name="${2%%==*}" want="${2##*==}" have
    have="$("$dir/bin/python" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))' "$name" 2>/dev/null || true)"
    [ "$have" = "$want" ] && return 0
    say "creating venv $dir with $spec"
    if [ ! -x "$dir/bin/python" ]; then
        python3 -m venv "$dir" 2>/dev/null || {
            if [ "$(id -u)" = 0 ] && ! dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'install ok installed'; then
                apt-get update -q && apt-get install -y -q --no-install-recommends python3-venv
                installed+=("apt: python3-venv")
            fi
            rm -rf "$dir"; python3 -m venv "$dir"
        }
    fi
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$spec"
    installed+=("pip: $spec in $dir")
}
venv_with "$DEPS/py-websockets" "$PY_WEBSOCKETS"
venv_with "$DEPS/py-tornado3" "$PY_TORNADO"

# --- Autobahn testsuite ------------------------------------------------------------------------
if [ ! -x "$SHARED/autobahn/install.sh" ]; then
    say "$SHARED/autobahn/install.sh not found: the repository must be cloned with shared/ beside it" >&2
    exit 1
fi
"$SHARED/autobahn/install.sh" | sed 's/^/install-test-deps: autobahn: /'

# --- final check: every peer loads -------------------------------------------------------------
fail=0
check() { local what="$1"; shift; "$@" >/dev/null 2>&1 || { say "BROKEN: $what ($*)" >&2; fail=1; }; }
check "ruby websocket gem" ruby -e 'require "websocket"'
check "ruby em-websocket" ruby -e 'require "em-websocket"'
check "ruby websocket-driver" ruby -e 'require "websocket/driver"'
check "ruby faye-websocket" ruby -e 'require "faye/websocket"'
check "perl Protocol::WebSocket" perl -MProtocol::WebSocket -e 1
check "tinyproxy" tinyproxy -v
check "chromium" chromium --version
for spec in "${NODE_PKGS[@]}"; do
    check "node ${spec%@*}" env NODE_PATH="$DEPS/node/node_modules" node -e "require('${spec%@*}')"
done
check "python websockets" "$DEPS/py-websockets/bin/python" -c 'import websockets'
check "python tornado 3" "$DEPS/py-tornado3/bin/python" -c 'import tornado.websocket'
[ $fail = 0 ] || exit 1

if [ ${#installed[@]} -gt 0 ]; then
    for i in "${installed[@]}"; do say "installed $i"; done
else
    say "everything was already installed"
fi
say "ok (HYBI_DEPS=$DEPS)"
