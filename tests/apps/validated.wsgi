# An application wrapped in wsgiref.validate.validator: any PEP 3333
# violation by the server raises AssertionError (or warns WSGIWarning), which
# ends up in the error log that the test inspects.

import os
import sys
import warnings

from wsgiref.validate import validator

HERE = os.path.dirname(__file__)

# Every warning becomes visible in the error log (they are on by default
# for __main__ only).
warnings.simplefilter('always')


def inner(environ, start_response):
    path = environ['PATH_INFO']
    text = [('Content-Type', 'text/plain')]
    if path == '/get':
        start_response('200 OK', text)
        return [b'validated ', environ['REQUEST_METHOD'].encode()]
    if path == '/post':
        inp = environ['wsgi.input']
        first = inp.readline()
        second = inp.readline(4)
        rest = inp.read(int(environ['CONTENT_LENGTH']) - len(first) - len(second))
        more = inp.readlines()
        body = b'|'.join([first, second, rest]) + b'|%d' % len(more)
        start_response('200 OK', text + [('Content-Length', str(len(body)))])
        return [body]
    if path == '/iter-input':
        lines = list(environ['wsgi.input'])
        start_response('200 OK', text)
        return [b'%d lines' % len(lines)]
    if path == '/stream':
        write = start_response('200 OK', text)
        write(b'written|')

        def gen():
            for i in range(5):
                yield b'item%d|' % i
        return gen()
    if path == '/file':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](open(os.path.join(HERE, 'validated.wsgi'), 'rb'), 100)
    if path == '/errors':
        environ['wsgi.errors'].write('validated errors stream\n')
        environ['wsgi.errors'].writelines(['validated ', 'writelines\n'])
        environ['wsgi.errors'].flush()
        start_response('204 No Content', [])
        return []
    start_response('404 Not Found', text)
    return [b'not found']


application = validator(inner)
