# Daemon-mode test application: one script, behaviour chosen by PATH_INFO.
import hashlib
import json
import os
import socket
import sys
import time

import mod_wsgi


def info(environ):
    return {
        'pid': os.getpid(),
        'uid': os.getuid(),
        'process_group': environ['mod_wsgi.process_group'],
        'module_process_group': mod_wsgi.process_group,
        'application_group': environ['mod_wsgi.application_group'],
        'multithread': environ['wsgi.multithread'],
        'multiprocess': environ['wsgi.multiprocess'],
        'server_pid': environ['mod_wsgi.server_pid'],
        'script_name': environ['SCRIPT_NAME'],
        'path_info': environ['PATH_INFO'],
        'query': environ.get('QUERY_STRING', ''),
        'method': environ['REQUEST_METHOD'],
        'preloaded': sys.modules.get('__main__') is not None and os.environ.get('PRELOADED', ''),
        'imported': getattr(sys, '_daemon_test_imported', None),
        'cwd': os.getcwd(),
        'lang': os.environ.get('LANG'),
    }


def connections():
    # The connections from Apache children this process has open: its
    # connected (not listening) UNIX stream sockets, by inode.
    found = []
    for name in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + name)
        except OSError:
            continue
        if not target.startswith('socket:'):
            continue
        dup = os.dup(int(name))
        try:
            s = socket.socket(fileno=dup)
        except OSError:
            os.close(dup)
            continue
        try:
            if (s.family == socket.AF_UNIX and s.type == socket.SOCK_STREAM
                    and not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
                found.append(target)
        finally:
            s.close()
    return sorted(found)


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/connections':
        body = ' '.join(connections()).encode()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [body]
    if path == '/info':
        body = json.dumps(info(environ)).encode()
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [body]
    if path == '/sha':
        h = hashlib.sha256()
        n = 0
        inp = environ['wsgi.input']
        while True:
            chunk = inp.read(65536)
            if not chunk:
                break
            n += len(chunk)
            h.update(chunk)
        body = ('%d %s' % (n, h.hexdigest())).encode()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [body]
    if path == '/echo':
        # Streams the body back while reading it: a large POST with a large
        # response must not deadlock.
        inp = environ['wsgi.input']
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])

        def gen():
            while True:
                chunk = inp.read(65536)
                if not chunk:
                    return
                yield chunk
        return gen()
    if path == '/big-then-read':
        # Writes 10 MiB before reading any of the body.
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])

        def gen():
            for _ in range(160):
                yield b'x' * 65536
            n = 0
            while True:
                chunk = environ['wsgi.input'].read(65536)
                if not chunk:
                    break
                n += len(chunk)
            yield ('|%d' % n).encode()
        return gen()
    if path == '/stream':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return (bytes([65 + i % 26]) * 65536 for i in range(64))
    if path == '/file':
        f = open(environ['SCRIPT_FILENAME'], 'rb')
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return environ['wsgi.file_wrapper'](f, 8192)
    if path == '/bigfile':
        f = open(os.path.join(os.path.dirname(environ['SCRIPT_FILENAME']), 'big.bin'), 'rb')
        f.seek(int(environ.get('QUERY_STRING') or '0'))
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f, 8192)
    if path == '/sleep':
        time.sleep(float(environ.get('QUERY_STRING') or '1'))
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(os.getpid()).encode()]
    if path == '/exit':
        os._exit(3)
    if path == '/kill':
        os.kill(os.getpid(), 9)
    if path == '/error':
        raise RuntimeError('boom in the daemon')
    if path == '/status':
        start_response('404 Not Here', [('Content-Type', 'text/plain'), ('X-A', '1')])
        return [b'nope']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello from the daemon']
