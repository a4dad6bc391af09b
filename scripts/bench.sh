#!/usr/bin/env bash
# Benchmarks mod_wsgi-rs side by side with mod_wsgi 6 built for the same
# Python (../shared/bench/wsgibench.py), as BENCHMARKS.md reports:
#
#   scripts/bench.sh [wsgibench run options...]
#
# 1. Builds the module (release).
# 2. Creates the anchors venv (mod_wsgi, gunicorn, granian) for the Python
#    the module is built against, at /var/cache/mod_wsgi_rs/bench-venv-X.Y,
#    readable by Apache's User (a venv under root's home is not: the
#    harness would then keep root's capabilities in Apache's children, which
#    our daemons refuse to run with).
# 3. Runs every workload in both modes, the static-file ceiling and the
#    --scaling table; extra arguments go to `wsgibench.py run` (for example
#    --workloads hello,json --duration 5).
set -euo pipefail
cd "$(dirname "$0")/.."

bench="${WSGIBENCH:-../shared/bench/wsgibench.py}"
[[ -f "$bench" ]] || { echo "bench.sh: $bench not found (set WSGIBENCH)" >&2; exit 1; }
command -v wrk >/dev/null || apt-get install -y -q wrk
dpkg -s apache2-dev >/dev/null 2>&1 || apt-get install -y -q apache2-dev

python="${PYO3_PYTHON:-/usr/bin/python3}"
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
venv="/var/cache/mod_wsgi_rs/bench-venv-$version"

cargo build --release -q
mkdir -p "$(dirname "$venv")"
python3 "$bench" setup --venv "$venv" --python "$python"
chmod -R a+rX "$venv"

exec python3 "$bench" run --venv "$venv" \
    --candidate target/release/libmod_wsgi_rs.so \
    --servers apache-static,modwsgi-embedded,candidate-embedded,modwsgi-daemon,candidate-daemon \
    --scaling --md target/bench.md --json target/bench.json "$@"
