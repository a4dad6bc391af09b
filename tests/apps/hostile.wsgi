# A hostile daemon application: it finds the connection from the Apache child
# among its own file descriptors and writes hand-built response frames on it
# (tests/daemon_hostile.rs). Run it in a daemon group with threads=1, behind
# sequential requests, so that the one open connected, non-listening AF_UNIX
# stream socket is this request's (the Apache child keeps one connection).
#
# Frame: [kind u8][length u32 big-endian][payload] (src/daemon/protocol.rs).

import os
import socket
import stat
import struct
import time

HELLO, HEAD, BODY, BODY_FLUSH, END, STATUS, ABORT, LOG, CONTINUE, SEND_AGAIN = range(0x10, 0x1a)
REQUEST = 0x01
# protocol.rs's VERSION, which a hello carries (the test writes it in).
VERSION = int('@PROTOCOL_VERSION@')


def frame(kind, payload=b''):
    return struct.pack('>BI', kind, len(payload)) + payload


def text(s):
    b = s.encode('utf-8') if isinstance(s, str) else s
    return struct.pack('>I', len(b)) + b


def head(status=200, reason='OK', headers=(), cl=None, close=False):
    headers = list(headers)
    if cl is not None:
        headers.append(('Content-Length', str(cl)))
    p = struct.pack('>H', status) + text(reason) + struct.pack('>I', len(headers))
    for n, v in headers:
        p += text(n) + text(v)
    p += struct.pack('>BQ', 1, cl) if cl is not None else b'\x00'
    p += b'\x01' if close else b'\x00'
    return frame(HEAD, p)


def log(message, level=3):
    return frame(LOG, struct.pack('>B', level) + text(message))


PLAIN = [('Content-Type', 'text/plain')]

# Each case: the bytes written, and whether the application then answers
# normally (the frames were legal).
CASES = {
    'reason-crlf': head(reason='OK\r\nX-Injected: yes', headers=PLAIN) + frame(BODY, b'x') + frame(END),
    'header-crlf': head(headers=PLAIN + [('X-A', 'v\r\nX-Injected: yes')]) + frame(BODY, b'x') + frame(END),
    'header-name-ctl': head(headers=[('X-\x01Injected', 'yes')]) + frame(BODY, b'x') + frame(END),
    'two-heads': head(headers=PLAIN) + head(headers=[('X-Injected', 'second-head')]) + frame(BODY, b'x') + frame(END),
    'status-0': head(status=0) + frame(END),
    'status-600': head(status=600) + frame(END),
    'status-frame-200': frame(STATUS, struct.pack('>H', 200)),
    'status-frame-600': frame(STATUS, struct.pack('>H', 600)),
    'body-long': head(headers=PLAIN, cl=5)
    + frame(BODY, b'hello' + b'HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 0\r\n\r\n')
    + frame(END),
    'body-short': head(headers=PLAIN, cl=100) + frame(BODY_FLUSH, b'0123456789') + frame(END),
    'body-before-head': frame(BODY, b'X-Injected: body-first\r\n') + frame(END),
    'end-before-head': frame(END),
    'unknown-kind': frame(0x7e, b'secret-unknown-content'),
    'unexpected-kind': frame(REQUEST, b'secret-request-content'),
    'second-hello': frame(HELLO, struct.pack('>BI', VERSION, 1)),
    # The daemon said Continue before the application ran: asking the Apache
    # child to send the request again now would replay it.
    'send-again': frame(SEND_AGAIN),
    'second-continue': frame(CONTINUE) + head(headers=[('X-Injected', 'yes')]) + frame(END),
    'garbage': b'HTTP/1.1 200 OK\r\nX-Injected: garbage\r\n\r\nhello',
    # Over the 4 MiB frame limit: refused from its header.
    'log-10m': frame(LOG, b'\x03' + text(b'L' * (10 << 20))),
}
LEGAL = {
    # Under the frame limit but far over a log line: cut, request goes on.
    'log-large': log('large-log-line:' + 'L' * (1 << 20)),
    'log-crlf': log('first-half\r\n[Mon Jan 01 00:00:00 2024] [core:emerg] forged-line'),
    'log-flood': b''.join(log('flood-line %d' % i) for i in range(3000)),
}


def find_connection():
    found = []
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if s.family != socket.AF_UNIX or s.type != socket.SOCK_STREAM:
                continue
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                continue
            try:
                s.getpeername()
            except OSError:
                continue
            try:
                if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b'':
                    # A kept connection its Apache child has closed (this
                    # process closes it once it notices).
                    continue
            except BlockingIOError:
                pass
            except OSError:
                continue
            found.append(fd)
        finally:
            s.close()
    return found


def send(fd, data):
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except (BrokenPipeError, ConnectionResetError):
        # The Apache child refused what it read and closed the connection.
        pass


def application(environ, start_response):
    case = environ.get('QUERY_STRING', '')
    if case == 'ok':
        start_response('200 OK', PLAIN)
        return [b'ok']
    if case not in CASES and case not in LEGAL:
        start_response('404 Not Found', PLAIN)
        return [b'no such case']
    fds = find_connection()
    if len(fds) != 1:
        start_response('200 OK', PLAIN)
        return [('NO-CONNECTION-FOUND: candidates %r' % fds).encode()]
    send(fds[0], CASES.get(case) or LEGAL[case])
    start_response('200 OK', PLAIN)
    return [b'after-' + case.encode()]
