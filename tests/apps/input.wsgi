# Request-body behaviour (wsgi.input). Dispatches on PATH_INFO; results are
# returned as JSON. Errors the app sees are recorded under NOTES_DIR.

import hashlib
import json
import os
import time

HERE = os.path.dirname(__file__)
NOTES_DIR = os.path.join(HERE, 'notes')


def _query(environ):
    out = {}
    for part in environ.get('QUERY_STRING', '').split('&'):
        if '=' in part:
            k, v = part.split('=', 1)
            out[k] = v
    return out


def _note(name, text):
    with open(os.path.join(NOTES_DIR, name), 'a') as f:
        f.write(text + '\n')


def _json(start_response, value, status='200 OK'):
    body = json.dumps(value, sort_keys=True).encode()
    start_response(status, [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]


def _lat(b):
    return b.decode('latin-1')


def application(environ, start_response):
    path = environ['PATH_INFO']
    q = _query(environ)
    inp = environ['wsgi.input']

    if path == '/ok':
        return _json(start_response, 'ok')
    if path == '/pid':
        return _json(start_response, os.getpid())
    if path == '/read':
        data = inp.read()
        return _json(start_response, {
            'len': len(data), 'sha256': hashlib.sha256(data).hexdigest(),
            'again': _lat(inp.read()), 'again_n': _lat(inp.read(10)), 'line': _lat(inp.readline()),
            'content_length': environ.get('CONTENT_LENGTH'),
            'terminated': environ.get('wsgi.input_terminated'),
            'te': environ.get('HTTP_TRANSFER_ENCODING'),
        })
    if path == '/read-none':
        return _json(start_response, _lat(inp.read(None) if q.get('arg') == 'none' else inp.read(-1)))
    if path == '/read-n':
        n = int(q['n'])
        parts = []
        while True:
            chunk = inp.read(n)
            if not chunk:
                break
            parts.append(_lat(chunk))
        return _json(start_response, parts)
    if path == '/readline':
        n = int(q.get('n', '-1'))
        lines = []
        while True:
            line = inp.readline(n) if n >= 0 else inp.readline()
            if not line:
                break
            lines.append(_lat(line))
            if len(lines) > 1000:
                break
        return _json(start_response, lines)
    if path == '/readlines':
        hint = q.get('hint')
        first = inp.readlines(int(hint)) if hint is not None else inp.readlines()
        rest = inp.readlines()
        return _json(start_response, {'first': [_lat(x) for x in first], 'rest': [_lat(x) for x in rest]})
    if path == '/iter':
        return _json(start_response, [_lat(x) for x in inp])
    if path == '/mixed':
        a = inp.read(3)
        b = inp.readline()
        c = inp.readline(2)
        d = list(inp)
        return _json(start_response, [_lat(a), _lat(b), _lat(c), [_lat(x) for x in d]])
    if path == '/upload':
        # Read in blocks, hashing as we go; record what the app saw.
        h = hashlib.sha256()
        total = 0
        try:
            while True:
                block = inp.read(65536)
                if not block:
                    break
                h.update(block)
                total += len(block)
        except OSError as e:
            _note(q.get('tag', 'upload'), 'OSError:%s' % e)
            raise
        except BaseException as e:
            _note(q.get('tag', 'upload'), 'other:%s:%s' % (type(e).__name__, e))
            raise
        _note(q.get('tag', 'upload'), 'done:%d' % total)
        return _json(start_response, {'len': total, 'sha256': h.hexdigest()})
    if path == '/write-then-read':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'first|')
        data = inp.read()
        return [b'read:' + data]
    if path == '/slow':
        # Signals that it is about to block in read(), then reads everything.
        _note('slow', 'reading')
        t0 = time.time()
        data = inp.read()
        return _json(start_response, {'len': len(data), 'waited': time.time() - t0})

    return _json(start_response, 'no such case', '404 Not Found')
