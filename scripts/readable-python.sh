#!/usr/bin/env bash
# Prints the path of a copy of a Python that Apache's User can read.
#
#   scripts/readable-python.sh /root/.pyenv/versions/3.12.1/bin/python3.12
#
# A Python installed under a private directory (pyenv under /root) cannot be
# loaded by Apache's children, which run as www-data. This copies the
# installation (its sys.base_prefix, without the test suite) to
# ${MOD_WSGI_RS_CACHE:-/var/cache/mod_wsgi_rs}/python/<version>, makes it
# relocatable (the interpreter finds libpython next to itself, not in the
# original directory), and prints the copy's interpreter. Idempotent: an
# existing copy is reused. A Python that is already readable by everyone is
# printed unchanged. Needs root (patchelf is installed when missing).
set -euo pipefail

say() { echo "readable-python: $*" >&2; }

python="${1:?usage: $0 /path/to/python3.X}"
if [[ ! -x "$python" ]]; then
    say "$python is not an executable"
    exit 1
fi

read -r version prefix shared < <("$python" -c \
    'import sys, sysconfig; print("%d.%d.%d" % sys.version_info[:3], sys.base_prefix, sysconfig.get_config_var("Py_ENABLE_SHARED") or 0)')
minor="${version%.*}"
if [[ "$shared" != 1 ]]; then
    say "$python is not built with shared libraries (--enable-shared): it cannot be embedded"
    exit 1
fi

# Already readable by an unprivileged user (a distribution's Python)?
if runuser -u nobody -- test -r "$prefix/lib/python$minor/os.py" 2>/dev/null; then
    echo "$python"
    exit 0
fi

cache="${MOD_WSGI_RS_CACHE:-/var/cache/mod_wsgi_rs}"
dest="$cache/python/$version"
exe="$dest/bin/python$minor"
if [[ -e "$dest/.ready" ]] && [[ "$(cat "$dest/.ready")" == "$prefix" ]]; then
    echo "$exe"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    say "making a readable copy of $prefix needs root"
    exit 1
fi
if ! command -v patchelf >/dev/null 2>&1; then
    say "installing patchelf"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends patchelf >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends patchelf >&2; }
fi

mkdir -p "$cache/python"
chmod a+rx "$cache" "$cache/python"
exec 9>"$cache/python/.lock"
flock 9
if [[ ! -e "$dest/.ready" ]] || [[ "$(cat "$dest/.ready")" != "$prefix" ]]; then
    say "copying $prefix to $dest"
    rm -rf "$dest" "$dest.tmp"
    mkdir -p "$dest.tmp"
    tar -C "$prefix" --exclude="./lib/python$minor/test" --exclude='__pycache__' -cf - . |
        tar -C "$dest.tmp" -xf -
    # The interpreter's RUNPATH names the original lib directory.
    for f in "$dest.tmp/bin/python$minor" "$dest.tmp/bin/python${minor}t"; do
        [[ -f "$f" && ! -L "$f" ]] && patchelf --set-rpath '$ORIGIN/../lib' "$f"
    done
    chmod -R a+rX "$dest.tmp"
    mv "$dest.tmp" "$dest"
    echo "$prefix" >"$dest/.ready"
fi
echo "$exe"
