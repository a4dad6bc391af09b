# Dumps the WSGI environ, one `key<TAB>json` line per key: plain values as they are (tuples become
# lists), everything else as '<type name>'. /log writes to wsgi.errors,
# print() and sys.stderr to check the error-log routing.

import json
import os
import sys
import threading


def _plain(v):
    if isinstance(v, (str, bool, int, float)) or v is None:
        return v
    if isinstance(v, tuple) and all(isinstance(x, (str, int, float)) for x in v):
        return list(v)
    return '<%s>' % type(v).__name__


def application(environ, start_response):
    if environ['PATH_INFO'] == '/log':
        errors = environ['wsgi.errors']
        errors.write('wsgi.errors line one\n')
        errors.writelines(['wsgi.errors ', 'line two\n'])
        errors.write('partial line without newline')
        errors.flush()
        print('printed to stdout')
        print('printed to stderr', file=sys.stderr)
        sys.stderr.write('stderr partial, flushed at the end of the request')
        import logging
        logger = logging.getLogger('environ-test')
        handler = logging.StreamHandler(errors)
        handler.setFormatter(logging.Formatter('logging:%(levelname)s:%(message)s'))
        logger.addHandler(handler)
        logger.warning('through the logging module')
        logger.removeHandler(handler)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'logged']

    if environ['PATH_INFO'] == '/thread-print':
        # print() from a thread with no request: goes to the server log.
        t = threading.Thread(target=lambda: print('printed from a background thread'))
        t.start()
        t.join()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'thread']

    out = {k: _plain(v) for k, v in environ.items()}
    out['__types__'] = {k: type(v).__name__ for k, v in environ.items()}
    out['__pid__'] = os.getpid()
    out['__input_has__'] = [a for a in ('read', 'readline', 'readlines', '__iter__')
                            if hasattr(environ['wsgi.input'], a)]
    out['__errors_has__'] = [a for a in ('write', 'writelines', 'flush')
                             if hasattr(environ['wsgi.errors'], a)]
    # One `key<TAB>json value` line per key, so tests need no JSON parser.
    body = ''.join('%s\t%s\n' % (k, json.dumps(out[k], sort_keys=True))
                   for k in sorted(out)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body))),
                              ('X-Request-Method', environ['REQUEST_METHOD'])])
    return [body]
