#!/usr/bin/env python3
"""Throughput of two application groups in one Apache child, each running
CPU-bound Python, with WSGIPerInterpreterGIL Off (one GIL shared by every
interpreter) and On (a GIL per sub-interpreter), measured in the same run.

    scripts/bench-per-interpreter-gil.py --module target/py3.12/release/libmod_wsgi_rs.so \\
        [--modwsgi /path/to/mod_wsgi.so --python-home DIR] [--rounds 3 --duration 10]

Setup (the issue's): one event-MPM child with 8 threads, two application
groups (/a and /b: the same script, each in its own sub-interpreter), a
request costing about 5 ms of pure-Python CPU, and two wrk load generators
at 4 connections each, one per group, running at once. Rounds alternate
Off/On (and mod_wsgi Off/On with --modwsgi); the report gives median req/s
and the median of the per-round On/Off ratio. Quote ratios, never absolute
numbers (this machine's noise is about 10%).

Needs: apache2, wrk, root (Apache's User www-data must read the module and
the Python). Only loopback ports are used; every Apache is killed by PID.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

APP = r'''
import time
def application(environ, start_response):
    # About 5 ms of pure-Python work, holding the interpreter's GIL.
    n = 0
    deadline = time.thread_time() + 0.005
    while time.thread_time() < deadline:
        for i in range(200):
            n += i * i
    body = b'%d\n' % (n & 0xffff)
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
'''

MODULES = "/usr/lib/apache2/modules"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def conf(tmp, port, module, own_gil, python_home):
    lines = [
        f"ServerRoot {tmp}",
        "ServerName localhost",
        f"Listen 127.0.0.1:{port}",
        f"PidFile {tmp}/httpd.pid",
        f"ErrorLog {tmp}/error.log",
        "LogLevel warn",
        f"Mutex file:{tmp} default",
        f"DefaultRuntimeDir {tmp}",
        f"LoadModule mpm_event_module {MODULES}/mod_mpm_event.so",
        f"LoadModule authz_core_module {MODULES}/mod_authz_core.so",
        "StartServers 1", "ServerLimit 1", "ThreadsPerChild 8", "ThreadLimit 8",
        "MaxRequestWorkers 8", "MinSpareThreads 1", "MaxSpareThreads 8",
        "KeepAliveTimeout 30", "MaxKeepAliveRequests 0",
        "User www-data", "Group www-data",
        f"LoadModule wsgi_module {module}",
        f"WSGIPerInterpreterGIL {'On' if own_gil else 'Off'}",
        f"WSGIScriptAlias /a {tmp}/app.wsgi application-group=groupa",
        f"WSGIScriptAlias /b {tmp}/app.wsgi application-group=groupb",
        f"<Directory {tmp}>", "  Require all granted", "</Directory>",
    ]
    if python_home:
        lines.append(f"WSGIPythonHome {python_home}")
    return "\n".join(lines) + "\n"


def start(name, module, own_gil, python_home):
    tmp = tempfile.mkdtemp(prefix=f"pigil-{name}-")
    os.chmod(tmp, 0o755)
    with open(os.path.join(tmp, "app.wsgi"), "w") as f:
        f.write(APP)
    port = free_port()
    with open(os.path.join(tmp, "httpd.conf"), "w") as f:
        f.write(conf(tmp, port, module, own_gil, python_home))
    proc = subprocess.Popen(["apache2", "-f", f"{tmp}/httpd.conf", "-DFOREGROUND"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            for path in ("/a", "/b"):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                    r.read()
            return proc, port, tmp
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log = open(os.path.join(tmp, "error.log")).read() if os.path.exists(
                    os.path.join(tmp, "error.log")) else ""
                stop(proc)
                sys.exit(f"{name}: apache did not start\n{log}")
            time.sleep(0.2)


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=15)


def wrk(port, path, duration):
    return subprocess.Popen(["wrk", "-t1", "-c4", f"-d{duration}s", "--timeout", "10s",
                             f"http://127.0.0.1:{port}{path}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def requests_per_second(out):
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        sys.exit(f"cannot parse wrk output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"wrk saw errors:\n{out}")
    return float(m.group(1))


def measure(port, duration):
    """Both groups loaded at once; the sum of the two generators' req/s."""
    a, b = wrk(port, "/a", duration), wrk(port, "/b", duration)
    outs = [p.communicate(timeout=duration + 60)[0] for p in (a, b)]
    return sum(requests_per_second(o) for o in outs)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--module", required=True, help="mod_wsgi-rs .so built for Python 3.12+")
    p.add_argument("--modwsgi", help="also measure this mod_wsgi .so (built for the same Python)")
    p.add_argument("--python-home", help="WSGIPythonHome for every server (e.g. a venv's sys.prefix)")
    p.add_argument("--modwsgi-python-home", help="WSGIPythonHome for mod_wsgi only")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()
    for tool in ("apache2", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install -y {'apache2' if tool == 'apache2' else 'wrk'}")

    servers = [("mod_wsgi-rs", os.path.abspath(args.module), args.python_home)]
    if args.modwsgi:
        servers.append(("mod_wsgi", os.path.abspath(args.modwsgi),
                        args.modwsgi_python_home or args.python_home))
    results = {}
    for r in range(args.rounds):
        for name, module, home in servers:
            # Alternate which mode goes first in each round.
            modes = [False, True] if r % 2 == 0 else [True, False]
            for own_gil in modes:
                proc, port, tmp = start(name, module, own_gil, home)
                try:
                    measure(port, args.warmup)
                    rps = measure(port, args.duration)
                finally:
                    stop(proc)
                    shutil.rmtree(tmp, ignore_errors=True)
                results.setdefault((name, own_gil), []).append(rps)
                print(f"round {r + 1} {name} WSGIPerInterpreterGIL {'On ' if own_gil else 'Off'}: "
                      f"{rps:8.1f} req/s", flush=True)

    print()
    print("| server | Off req/s | On req/s | On / Off (median of per-round ratios) |")
    print("|---|---:|---:|---:|")
    for name, _, _ in servers:
        off, on = results[(name, False)], results[(name, True)]
        ratio = statistics.median(b / a for a, b in zip(off, on))
        print(f"| {name} | {statistics.median(off):.1f} | {statistics.median(on):.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
