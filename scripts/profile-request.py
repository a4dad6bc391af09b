#!/usr/bin/env python3
"""Per-request cost of one WSGI request in an Apache module, by instruction
counts (valgrind's callgrind: repeatable on a noisy machine), system calls
(strace -c) and context switches (/proc/<pid>/status), for mod_wsgi-rs and,
side by side, mod_wsgi built for the same Python.

    scripts/profile-request.py --module target/release/libmod_wsgi_rs.so \\
        [--modwsgi /path/to/mod_wsgi.so] [--workload hello|json|echo-post-1k] \\
        [--requests 2000] [--callgrind-out DIR]

Apache runs one prefork child in the foreground (-X) on a loopback port; the
per-request figures are the difference between a run of N and a run of 2N
requests on one keep-alive connection, divided by N, so start-up and
shutdown cancel out. With --callgrind-out the 2N run's profile is kept for
callgrind_annotate (functions by inclusive cost).

Needs: apache2, valgrind, strace, root (Apache's User www-data must read the
modules: they are copied to a temporary directory; everything runs as
www-data).
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

APPS = {
    "hello": "def application(environ, start_response):\n"
             "    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '12')])\n"
             "    return [b'Hello World!']\n",
    "json": "import json\n"
            "def application(environ, start_response):\n"
            "    body = json.dumps({'items': [{'id': i, 'name': 'item %d' % i} for i in range(30)]}).encode()\n"
            "    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])\n"
            "    return [body]\n",
    "echo-post-1k": "def application(environ, start_response):\n"
                    "    n = len(environ['wsgi.input'].read())\n"
                    "    body = b'%d' % n\n"
                    "    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n"
                    "    return [body]\n",
}

MODULES = "/usr/lib/apache2/modules"
WWW = 33  # www-data


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_conf(tmp, port, module, daemon):
    wsgi = (f"WSGIDaemonProcess prof threads=1\nWSGIProcessGroup prof\n" if daemon else "")
    conf = f"""ServerRoot {tmp}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {tmp}/httpd.pid
ErrorLog {tmp}/error.log
LogLevel warn
Mutex file:{tmp} default
DefaultRuntimeDir {tmp}
LoadModule mpm_prefork_module {MODULES}/mod_mpm_prefork.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
KeepAlive On
MaxKeepAliveRequests 0
LoadModule wsgi_module {module}
{wsgi}WSGIScriptAlias /app {tmp}/app.wsgi application-group=%{{GLOBAL}}
<Directory {tmp}>
  Require all granted
</Directory>
"""
    with open(os.path.join(tmp, "httpd.conf"), "w") as f:
        f.write(conf)


def wait_port(port, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def drive(port, n, workload):
    """n requests on one keep-alive connection; returns when all answered."""
    body = b"x" * 1024 if workload == "echo-post-1k" else b""
    method = "POST" if body else "GET"
    req = (f"{method} /app HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    buf = b""
    for _ in range(n):
        s.sendall(req)
        while True:
            m = re.search(rb"\r\n\r\n", buf)
            if m:
                head = buf[:m.end()]
                cl = re.search(rb"(?i)content-length: *(\d+)", head)
                need = m.end() + (int(cl.group(1)) if cl else 0)
                if len(buf) >= need:
                    if not head.startswith(b"HTTP/1.1 200"):
                        sys.exit(f"unexpected response: {head!r}")
                    buf = buf[need:]
                    break
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("connection closed")
            buf += chunk
    s.close()


def run_once(module, workload, n, tool, out_dir=None, daemon=False):
    tmp = tempfile.mkdtemp(prefix="profile-")
    os.chmod(tmp, 0o755)
    mod_copy = os.path.join(tmp, "module.so")
    shutil.copy(module, mod_copy)
    os.chmod(mod_copy, 0o644)
    with open(os.path.join(tmp, "app.wsgi"), "w") as f:
        f.write(APPS[workload])
    port = free_port()
    write_conf(tmp, port, mod_copy, daemon)
    # Run as www-data from the start: Apache then never switches user, and
    # the profilers can write their output at exit.
    for root, dirs, files in os.walk(tmp):
        for x in dirs + files:
            os.chown(os.path.join(root, x), WWW, WWW)
    os.chown(tmp, WWW, WWW)
    base = ["apache2", "-X", "-f", f"{tmp}/httpd.conf", "-DFOREGROUND"]
    if tool == "callgrind":
        outdir = out_dir or tmp
        os.chmod(outdir, 0o1777)
        outfile = os.path.join(outdir, f"callgrind.out.{os.path.basename(module)}.{n}")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={outfile}",
               "--trace-children=no"] + base
    elif tool == "strace":
        outfile = os.path.join(tmp, "strace.txt")
        cmd = ["strace", "-f", "-c", "-o", outfile] + base
    else:
        outfile = None
        cmd = base
    cmd = ["runuser", "-u", "www-data", "--"] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        if not wait_port(port, proc):
            sys.exit(f"apache did not start:\n{proc.stderr.read().decode()}\n"
                     f"{open(os.path.join(tmp, 'error.log')).read() if os.path.exists(os.path.join(tmp, 'error.log')) else ''}")
        drive(port, 5, workload)  # warm-up: Python, the script, caches
        switches_before = ctx_switches(proc.pid)
        drive(port, n, workload)
        switches = ctx_switches(proc.pid) - switches_before if switches_before is not None else None
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    result = {"switches": switches}
    if tool == "callgrind":
        with open(outfile) as f:
            text = f.read()
        m = re.search(r"^summary: (\d+)", text, re.M) or re.search(r"^totals: (\d+)", text, re.M)
        result["ir"] = int(m.group(1))
        result["file"] = outfile
    elif tool == "strace":
        with open(outfile) as f:
            text = f.read()
        m = re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+)?\s*total", text, re.M)
        result["syscalls"] = int(m.group(1)) if m else None
        result["strace"] = text
    shutil.rmtree(tmp, ignore_errors=True) if tool != "callgrind" or out_dir else None
    return result


def ctx_switches(pid):
    """Voluntary + involuntary switches of every thread of `pid`'s process
    (under valgrind/strace: the traced program is a child; take the tree)."""
    total = 0
    found = False
    for p in [pid] + children(pid):
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            total += int(line.split()[1])
                            found = True
        except OSError:
            pass
    return total if found else None


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
                        out.extend(children(int(d)))
            except (OSError, ValueError, IndexError):
                pass
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--module", required=True)
    p.add_argument("--modwsgi")
    p.add_argument("--workload", default="hello", choices=sorted(APPS))
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--daemon", action="store_true", help="through a daemon process group (threads=1)")
    p.add_argument("--callgrind-out", help="keep the callgrind profiles (N and 2N runs) here; "
                   "scripts/profile-diff.py turns a pair into per-request costs by function")
    args = p.parse_args()
    n = args.requests
    servers = [("mod_wsgi-rs", args.module)] + ([("mod_wsgi", args.modwsgi)] if args.modwsgi else [])
    rows = []
    for name, module in servers:
        a = run_once(module, args.workload, n, "callgrind", args.callgrind_out, daemon=args.daemon)
        b = run_once(module, args.workload, 2 * n, "callgrind", args.callgrind_out, daemon=args.daemon)
        ir = (b["ir"] - a["ir"]) / n
        s1 = run_once(module, args.workload, n, "strace", daemon=args.daemon)
        s2 = run_once(module, args.workload, 2 * n, "strace", daemon=args.daemon)
        sys_per = (s2["syscalls"] - s1["syscalls"]) / n if s1["syscalls"] and s2["syscalls"] else None
        plain = run_once(module, args.workload, n, "none", daemon=args.daemon)
        sw = plain["switches"] / n if plain["switches"] is not None else None
        rows.append((name, ir, sys_per, sw, b.get("file")))
        print(f"{name}: {ir:,.0f} instructions/request, "
              f"{sys_per if sys_per is None else round(sys_per, 1)} syscalls/request, "
              f"{sw if sw is None else round(sw, 2)} context switches/request", flush=True)
    print()
    print(f"| {args.workload}{' (daemon)' if args.daemon else ''} | instructions/request | syscalls/request | context switches/request |")
    print("|---|---:|---:|---:|")
    for name, ir, sp, sw, _ in rows:
        print(f"| {name} | {ir:,.0f} | {sp if sp is None else f'{sp:.1f}'} | {sw if sw is None else f'{sw:.2f}'} |")
    if len(rows) == 2:
        print(f"\nmod_wsgi-rs / mod_wsgi instructions: {rows[0][1] / rows[1][1]:.2f}")


if __name__ == "__main__":
    main()
