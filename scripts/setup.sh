#!/usr/bin/env bash
# Prepares this machine to build and test mod_wsgi-rs; idempotent and quick
# when everything is already there.
#
#   scripts/setup.sh [release|debug|none]   (default: release)
#
# 1. Debian packages: apache2 apache2-dev libclang-dev python3.11-dev
#    python3.11-venv (installed with apt-get when missing; needs root).
# 2. cargo must be on PATH (or in ~/.cargo/bin).
# 3. The test venv (Flask + Django, readable by the Apache user) at
#    ${MOD_WSGI_RS_TEST_VENV:-/var/cache/mod_wsgi_rs/test-venv}, as
#    tests/common/mod.rs test_venv() expects: created once, marked by .ready.
# 4. cargo build (release, debug, or nothing).
set -euo pipefail

profile="${1:-release}"
case "$profile" in
    release | debug | none) ;;
    *)
        echo "usage: $0 [release|debug|none]" >&2
        exit 2
        ;;
esac

cd "$(dirname "$0")/.."

say() { echo "setup: $*" >&2; }

# --- 1. system packages ------------------------------------------------------
packages=(apache2 apache2-dev libclang-dev python3.11-dev python3.11-venv
    curl openssl strace) # the last three: tools some integration tests drive
missing=()
for p in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)" != ii* ]]; then
        missing+=("$p")
    fi
done
# A C compiler (the cc crate builds our shim; rustc links with it).
if ! command -v cc >/dev/null 2>&1; then
    missing+=(build-essential)
fi
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        say "missing packages: ${missing[*]}"
        say "run as root: apt-get update && apt-get install -y ${missing[*]}"
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- 2. cargo ----------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    say "cargo not found: install a Rust toolchain (rustup, stable) and put cargo on PATH"
    exit 1
fi

# --- 3. the test venv ----------------------------------------------------------
venv="${MOD_WSGI_RS_TEST_VENV:-/var/cache/mod_wsgi_rs/test-venv}"
# A lock left behind by an interrupted test run would make the tests wait.
rm -f "${venv}.lock"
if [[ ! -e "$venv/.ready" ]]; then
    say "creating the test venv at $venv (flask, django)"
    mkdir -p "$(dirname "$venv")"
    chmod a+rx "$(dirname "$venv")" 2>/dev/null || true
    /usr/bin/python3.11 -m venv --clear "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check flask django
    chmod -R a+rX "$venv"
    echo ok >"$venv/.ready"
    chmod a+r "$venv/.ready"
fi

# --- 4. build -------------------------------------------------------------------
case "$profile" in
    release) cargo build --release ;;
    debug) cargo build ;;
    none) ;;
esac
