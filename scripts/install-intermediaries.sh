#!/usr/bin/env bash
# Installs the real HTTP intermediaries that `hybi lab --real` and crates/hybi-lab/tests/real_intermediaries.rs
# run (Debian 12, as root): nginx, HAProxy, Apache httpd, Traffic Server, Varnish, Squid, lighttpd, h2o, Caddy,
# nghttpx, tinyproxy, Privoxy, plus iptables (Squid interception inside a private network namespace) and
# iproute2/util-linux (ip, unshare).
#
# Idempotent and fast when everything is present (dpkg-query only, no apt-get update). Package postinst
# scripts must not start the daemons: a policy-rc.d that refuses every start is put in place for the install
# when none exists, and removed afterwards. The lab starts and stops its own instances (own configs, own
# temporary directories, 127.0.0.1 only) and never uses the packaged services.
#
#   scripts/install-intermediaries.sh          install what is missing
#   scripts/install-intermediaries.sh --check  exit 1 (listing them) if any is missing, install nothing
#
# The product table in crates/hybi-lab/src/real/products.rs names these same packages: keep them in step.
set -euo pipefail

PKGS=(
    nginx
    haproxy
    apache2          # mod_proxy_http, mod_proxy_wstunnel, mod_proxy_connect
    trafficserver
    varnish
    squid
    lighttpd
    h2o
    caddy
    nghttp2-proxy    # nghttpx
    tinyproxy
    privoxy
    iptables         # Squid interception: REDIRECT inside the lab's own network namespace only
    iproute2         # ip
    util-linux       # unshare, nsenter
)

say() { echo "install-intermediaries: $*"; }

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${1:-}" = --check ]; then
    if [ ${#missing[@]} -gt 0 ]; then say "missing: ${missing[*]}" >&2; exit 1; fi
    say "all installed"; exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        say "need root to apt-get install: ${missing[*]}" >&2
        exit 1
    fi
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# hybi install-intermediaries.sh: keep daemons from starting during the install\nexit 101\n' \
            > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        created_policy=1
    fi
    trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    export DEBIAN_FRONTEND=noninteractive
    say "apt-get install ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=900 update -q
    apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}"
fi

# The packages' own services stay stopped even where an init system exists (no systemd in the lab's
# containers; where one runs, they are disabled so nothing listens on :80/:3128/:8118 behind our back).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    for s in nginx haproxy apache2 trafficserver varnish varnishncsa squid lighttpd h2o caddy nghttpx tinyproxy privoxy; do
        systemctl disable --now "$s" >/dev/null 2>&1 || true
    done
fi

fail=0
for bin in nginx haproxy apache2 traffic_server varnishd squid lighttpd h2o caddy nghttpx tinyproxy privoxy iptables ip unshare; do
    command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || [ -x "/usr/bin/$bin" ] || {
        say "BROKEN: $bin not found after install" >&2; fail=1; }
done
[ $fail = 0 ] || exit 1
if [ ${#missing[@]} -gt 0 ]; then say "installed ${missing[*]}"; else say "everything was already installed"; fi
