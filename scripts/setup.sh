#!/usr/bin/env bash
# Prepares this machine to build and test mod_wsgi-rs; idempotent and quick
# when everything is already there.
#
#   scripts/setup.sh [release|debug|none]   (default: release)
#
# The module is built for the Python named by PYO3_PYTHON, by default the
# distribution's /usr/bin/python3 (Debian 12: 3.11, Debian 13: 3.13).
#
# 1. Debian packages: apache2 apache2-dev libclang-dev, the Python's
#    development files and venv module as the distribution names them
#    (python3 python3-dev python3-venv for /usr/bin/python3,
#    python3.X-dev python3.X-venv for /usr/bin/python3.X), and curl openssl
#    strace binutils for some tests (installed with apt-get when missing;
#    needs root). A test whose tool is missing fails, naming the package.
# 2. cargo must be on PATH (or in ~/.cargo/bin).
# 3. The test venv (Flask + Django, readable by the Apache user) at
#    ${MOD_WSGI_RS_TEST_VENV:-/var/cache/mod_wsgi_rs/test-venv-X.Y}, as
#    tests/common/mod.rs test_venv() expects: created once per Python,
#    marked by .ready (which names the Python that made it).
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
python="${PYO3_PYTHON:-/usr/bin/python3}"
packages=(apache2 apache2-dev libclang-dev
    curl openssl strace binutils # tools some integration tests run
    lintian dpkg-dev)            # scripts/package.sh: checking the .deb, dpkg-shlibdeps
case "$python" in
    /usr/bin/python3) packages+=(python3 python3-dev python3-venv) ;;
    /usr/bin/python3.*) packages+=("${python#/usr/bin/}-dev" "${python#/usr/bin/}-venv") ;;
    *) ;; # a Python of your own: its headers and venv module come with it
esac
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

# cargo-deb builds the Debian package (scripts/package.sh and its test).
if ! cargo deb --version >/dev/null 2>&1; then
    say "installing cargo-deb"
    cargo install --locked --quiet cargo-deb
fi

# --- 3. the Python and the test venv ---------------------------------------------
if ! "$python" -c 'import sys, sysconfig; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' 2>/dev/null; then
    say "$python is missing or not built with shared libraries (libpython3.X.so): the module embeds it"
    say "use the distribution's python3, or one built with --enable-shared (PYO3_PYTHON=/path/to/python3.X)"
    exit 1
fi
read -r version base < <("$python" -c \
    'import os, sys; print("%d.%d" % sys.version_info[:2], os.path.realpath(getattr(sys, "_base_executable", sys.executable)))')
if [[ $(id -u) -eq 0 ]] && ! runuser -u www-data -- test -x "$base" 2>/dev/null; then
    say "$python ($base) is not readable by Apache's User (www-data)"
    say "make a readable copy: PYO3_PYTHON=\$(scripts/readable-python.sh $python) $0 $profile"
    exit 1
fi
say "building for Python $version ($base)"
venv="${MOD_WSGI_RS_TEST_VENV:-/var/cache/mod_wsgi_rs/test-venv-$version}"
# A lock left behind by an interrupted test run would make the tests wait.
rm -f "${venv}.lock"
if [[ ! -e "$venv/.ready" ]] || [[ "$(cat "$venv/.ready")" != "$base" ]]; then
    say "creating the test venv at $venv (flask, django) with $base"
    mkdir -p "$(dirname "$venv")"
    chmod a+rx "$(dirname "$venv")" 2>/dev/null || true
    "$base" -m venv --clear "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check flask django
    chmod -R a+rX "$venv"
    echo "$base" >"$venv/.ready"
    chmod a+r "$venv/.ready"
fi

# --- 4. build -------------------------------------------------------------------
case "$profile" in
    release) cargo build --release ;;
    debug) cargo build ;;
    none) ;;
esac
