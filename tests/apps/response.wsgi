# Response-side behaviour (start_response, body iteration, close(),
# Content-Length, streaming, wsgi.file_wrapper). Dispatches on PATH_INFO.
# Each case that exercises close() records it in a file named by the request's
# `case` query parameter under CLOSE_DIR, so tests can count the calls.

import hashlib
import io
import os
import sys
import time

HERE = os.path.dirname(__file__)
CLOSE_DIR = os.path.join(HERE, 'closed')


def _query(environ):
    out = {}
    for part in environ.get('QUERY_STRING', '').split('&'):
        if '=' in part:
            k, v = part.split('=', 1)
            out[k] = v
    return out


def _record_close(environ, what):
    tag = _query(environ).get('tag')
    if tag:
        with open(os.path.join(CLOSE_DIR, tag), 'a') as f:
            f.write(what + '\n')


class Body(object):
    """An iterable with close() that records how many times close() ran."""

    def __init__(self, environ, items, fail_at=None):
        self.environ = environ
        self.items = items
        self.fail_at = fail_at

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.fail_at:
                raise RuntimeError('body failed at item %d' % i)
            yield item

    def close(self):
        _record_close(self.environ, 'close')


class NoClose(object):
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


class BadClose(object):
    def __iter__(self):
        return iter([b'body-before-bad-close'])

    def close(self):
        raise ValueError('close() failed on purpose')


STASH = {}


def _wait_for(path, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.02)
    return False


def application(environ, start_response):
    path = environ['PATH_INFO']
    q = _query(environ)
    text = [('Content-Type', 'text/plain')]

    # --- start_response validation --------------------------------------
    if path == '/ok':
        start_response('200 OK', text)
        return [b'ok']
    if path == '/status-bytes':
        start_response(b'200 OK', text)
        return [b'no']
    if path == '/status-bad':
        start_response('OK 200', text)
        return [b'no']
    if path == '/status-int':
        start_response(200, text)
        return [b'no']
    if path == '/status-crlf':
        start_response('200 OK\r\nX-Injected: 1', text)
        return [b'no']
    if path == '/headers-tuple':
        start_response('200 OK', (('Content-Type', 'text/plain'),))
        return [b'no']
    if path == '/header-not-tuple':
        start_response('200 OK', [['Content-Type', 'text/plain']])
        return [b'no']
    if path == '/header-3-tuple':
        start_response('200 OK', [('X-Three', 'a', 'b')])
        return [b'no']
    if path == '/status-not-latin1':
        start_response('200 \u2603', text)
        return [b'no']
    if path == '/header-bytes':
        start_response('200 OK', [(b'X-Bytes', 'v')])
        return [b'no']
    if path == '/header-value-int':
        start_response('200 OK', [('X-Int', 5)])
        return [b'no']
    if path == '/header-crlf':
        start_response('200 OK', [('X-Evil', 'a\r\nSet-Cookie: injected=1')])
        return [b'no']
    if path == '/header-lf':
        start_response('200 OK', [('X-Evil-Lf', 'a\nb')])
        return [b'no']
    if path == '/header-name-space':
        start_response('200 OK', [('X Evil', 'v')])
        return [b'no']
    if path == '/header-control':
        start_response('200 OK', [('X-Ctl', 'a\x01b')])
        return [b'no']
    if path == '/header-not-latin1':
        start_response('200 OK', [('X-Snow', '\u2603')])
        return [b'no']
    if path == '/header-latin1':
        start_response('200 OK', [('X-Latin', 'caf\xe9'), ('Content-Type', 'text/plain')])
        return [b'latin']
    if path == '/hop-by-hop':
        start_response('200 OK', [('Transfer-Encoding', 'chunked')])
        return [b'no']
    if path == '/connection-close':
        start_response('200 OK', [('Connection', 'close'), ('Content-Type', 'text/plain')])
        return [b'closing']
    if path == '/twice':
        start_response('200 OK', text)
        start_response('201 Created', text)
        return [b'no']
    if path == '/twice-caught':
        start_response('200 OK', text)
        try:
            start_response('201 Created', text)
        except Exception as e:
            return [('raised %s' % type(e).__name__).encode()]
        return [b'did not raise']
    if path == '/exc-info-before':
        start_response('200 OK', [('X-First', '1')] + text)
        try:
            raise KeyError('replaced')
        except KeyError:
            start_response('503 Service Unavailable', [('X-Second', '1')] + text, sys.exc_info())
        return [b'replaced body']
    if path == '/exc-info-after':
        write = start_response('200 OK', text)
        write(b'partial output|')
        try:
            raise KeyError('after output')
        except KeyError:
            start_response('500 Oops', text, sys.exc_info())
        return [b'never']
    if path == '/exc-info-bad':
        start_response('200 OK', text)
        start_response('500 Oops', text, 'not a tuple')
        return [b'never']
    if path == '/cookies':
        start_response('302 Found', [('Set-Cookie', 'a=1; Path=/'), ('Set-Cookie', 'b=2; Path=/'),
                                     ('Location', '/elsewhere'), ('WWW-Authenticate', 'Basic realm="x"')] + text)
        return [b'cookies']
    if path == '/status-only-code':
        start_response('201', text)
        return [b'code only']
    if path == '/no-start-response':
        return [b'body without status']
    if path == '/no-start-response-empty':
        return []

    # --- write() ----------------------------------------------------------
    if path == '/write':
        write = start_response('200 OK', text)
        write(b'one,')
        write(b'two,')
        return [b'three']
    if path == '/write-str':
        write = start_response('200 OK', text)
        write('text is not bytes')
        return [b'no']

    # --- body types -----------------------------------------------------
    if path == '/list':
        start_response('200 OK', text)
        return [b'a', b'', b'bc', b'def']
    if path == '/tuple':
        start_response('200 OK', text)
        return (b'x', b'y')
    if path == '/generator':
        def gen():
            try:
                for i in range(3):
                    yield b'g%d;' % i
            finally:
                _record_close(environ, 'gen-finally')
        start_response('200 OK', text)
        return gen()
    if path == '/custom':
        start_response('200 OK', text)
        return Body(environ, [b'c1', b'c2'])
    if path == '/no-close':
        start_response('200 OK', text)
        return NoClose([b'n1', b'n2'])
    if path == '/bad-close':
        start_response('200 OK', text)
        return BadClose()
    if path == '/empty':
        start_response('200 OK', [('X-Empty', 'yes')] + text)
        return []
    if path == '/empty-items':
        start_response('200 OK', text)
        return Body(environ, [b'', b''])
    if path == '/no-content':
        start_response('204 No Content', [])
        return []
    if path == '/str-first':
        start_response('200 OK', text)
        return Body(environ, ['text, not bytes'])
    if path == '/str-later':
        start_response('200 OK', text)
        return Body(environ, [b'first item|', 'second is text'])
    if path == '/none-later':
        start_response('200 OK', text)
        return Body(environ, [b'first item|', None])
    if path == '/raise-before':
        raise ValueError('raised before start_response')
    if path == '/raise-first-item':
        start_response('200 OK', text)
        return Body(environ, [b'never'], fail_at=0)
    if path == '/raise-mid':
        start_response('200 OK', text)
        return Body(environ, [b'before failure|', b'x'], fail_at=1)
    if path == '/raise-mid-length':
        start_response('200 OK', [('Content-Length', '100')] + text)
        return Body(environ, [b'before failure|', b'x'], fail_at=1)
    if path == '/return-str':
        start_response('200 OK', text)
        return 'a str, not an iterable of bytes'
    if path == '/return-bytes':
        start_response('200 OK', text)
        return b'bytes, not an iterable of bytes'
    if path == '/return-none':
        start_response('200 OK', text)
        return None
    if path == '/late-start':
        # start_response may be called as late as the first iteration.
        def gen():
            start_response('202 Accepted', [('X-Late', 'yes')] + text)
            yield b'late'
        return gen()
    if path == '/not-iterable':
        start_response('200 OK', text)
        return 42

    # --- Content-Length -------------------------------------------------
    if path == '/cl-excess':
        start_response('200 OK', [('Content-Length', '5')] + text)
        return Body(environ, [b'123', b'4567', b'89'])
    if path == '/cl-short':
        start_response('200 OK', [('Content-Length', '10')] + text)
        return Body(environ, [b'123'])
    if path == '/cl-exact':
        start_response('200 OK', [('Content-Length', '6')] + text)
        return [b'abc', b'def']
    if path == '/not-modified':
        # A 304 may carry the Content-Length of the entity it stands for.
        start_response('304 Not Modified', [('Content-Length', '1234'), ('ETag', '"v1"')])
        return Body(environ, [])
    if path == '/cl-bad':
        start_response('200 OK', [('Content-Length', 'lots')] + text)
        return [b'no']

    # --- HEAD -----------------------------------------------------------
    if path == '/head':
        body = b'x' * 1000
        start_response('200 OK', [('Content-Length', str(len(body))), ('X-Method', environ['REQUEST_METHOD'])] + text)
        return Body(environ, [body])
    if path == '/head-stream':
        start_response('200 OK', [('X-Method', environ['REQUEST_METHOD'])] + text)
        return Body(environ, [b'streamed', b' body'])

    # --- Streaming --------------------------------------------------------
    if path == '/stream':
        marker = os.path.join(CLOSE_DIR, q.get('marker', 'marker'))

        def gen():
            yield b'first|'
            ok = _wait_for(marker)
            yield b'second:%s|' % (b'saw-marker' if ok else b'timeout')
            yield b'end'
        start_response('200 OK', text)
        return gen()
    if path == '/stream-write':
        marker = os.path.join(CLOSE_DIR, q.get('marker', 'marker'))
        write = start_response('200 OK', text)
        write(b'first|')
        ok = _wait_for(marker)
        return [b'second:%s' % (b'saw-marker' if ok else b'timeout')]

    # --- Big responses ----------------------------------------------------
    if path == '/big-generator':
        size = int(q.get('size', str(10 * 1024 * 1024)))

        def gen():
            block = bytes(range(256)) * 256  # 64 KiB
            sent = 0
            n = 0
            while sent < size:
                chunk = block[: min(len(block), size - sent)]
                # Vary the content so a reordered or repeated block is detected.
                chunk = bytes([n % 256]) + chunk[1:]
                n += 1
                sent += len(chunk)
                yield chunk
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return gen()
    if path == '/download':
        # A slow endless download for the client-disconnect test.
        def gen():
            try:
                for i in range(100000):
                    yield b'y' * 65536
                    time.sleep(0.001)
                _record_close(environ, 'finished')
            finally:
                pass
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return Body(environ, gen())

    # --- wsgi.file_wrapper ---------------------------------------------
    if path == '/file':
        name = q.get('name', 'data.bin')
        f = open(os.path.join(HERE, name), 'rb')
        skip = int(q.get('skip', '0'))
        if skip:
            f.read(skip)
        headers = [('Content-Type', 'application/octet-stream')]
        if 'cl' in q:
            headers.append(('Content-Length', q['cl']))
        start_response('200 OK', headers)

        class Tracked(object):
            # A real file (fileno(), tell()) whose close() is recorded.
            def __init__(self, f):
                self.f = f

            def read(self, n=-1):
                # Only reached when the file is iterated instead of being
                # sent by the server: the test expects no such line.
                _record_close(environ, 'read')
                return self.f.read(n)

            def fileno(self):
                return self.f.fileno()

            def tell(self):
                return self.f.tell()

            def seek(self, *a):
                return self.f.seek(*a)

            def close(self):
                _record_close(environ, 'file-close')
                self.f.close()

        return environ['wsgi.file_wrapper'](Tracked(f), int(q.get('blksize', '8192')))
    if path == '/file-plain':
        f = open(os.path.join(HERE, q.get('name', 'data.bin')), 'rb')
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f)
    if path == '/filelike':
        data = b''.join(b'%05d\n' % i for i in range(2000))

        class Reader(object):
            def __init__(self):
                self.b = io.BytesIO(data)
                self.sizes = []

            def read(self, n):
                self.sizes.append(n)
                return self.b.read(n)

            def close(self):
                _record_close(environ, 'filelike-close:%s' % sorted(set(self.sizes)))
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('X-Sha256', hashlib.sha256(data).hexdigest())])
        return environ['wsgi.file_wrapper'](Reader(), int(q.get('blksize', '1000')))
    if path == '/file-after-write':
        write = start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        write(b'prefix|')
        return environ['wsgi.file_wrapper'](open(os.path.join(HERE, 'small.txt'), 'rb'))

    # --- write() after the client went away; stale request objects ----
    if path == '/write-loop':
        write = start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        try:
            for i in range(100000):
                write(b'w' * 65536)
                time.sleep(0.001)
            _record_close(environ, 'write-loop:finished')
        except BaseException as e:
            _record_close(environ, 'write-loop:%s' % type(e).__name__)
            raise
        return []
    if path == '/stash':
        STASH['input'] = environ['wsgi.input']
        STASH['start_response'] = start_response
        STASH['write'] = start_response('200 OK', text)
        return [b'stashed']
    if path == '/use-stash':
        results = []
        for name, call in [('read', lambda: STASH['input'].read(1)),
                           ('readline', lambda: STASH['input'].readline()),
                           ('write', lambda: STASH['write'](b'x')),
                           ('start_response', lambda: STASH['start_response']('200 OK', []))]:
            try:
                call()
                results.append('%s:no error' % name)
            except Exception as e:
                results.append('%s:%s' % (name, type(e).__name__))
        start_response('200 OK', text)
        return [' '.join(results).encode()]

    # --- child health -----------------------------------------------------
    if path == '/fds':
        start_response('200 OK', text)
        return [str(len(os.listdir('/proc/self/fd'))).encode()]
    if path == '/pid':
        start_response('200 OK', text)
        return [str(os.getpid()).encode()]

    start_response('404 Not Found', text)
    return [b'no such case: ' + path.encode('latin-1')]
