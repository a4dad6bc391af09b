# request-timeout / interrupt-timeout test application: behaviour chosen by
# PATH_INFO. Each stuck request is bounded (60 s), so nothing spins forever
# should a test fail.
import os
import time

import mod_wsgi

MARKS = os.environ.get('TIMEOUT_MARKS') or os.path.join(os.path.dirname(__file__), 'marks')


def mark(name, text):
    with open(os.path.join(MARKS, name), 'w') as f:
        f.write(text)


def loop_in_python():
    # Pure Python: RequestTimeout lands at the next bytecode.
    deadline = time.time() + 60
    n = 0
    while time.time() < deadline:
        n += 1
    return n


def sleep_in_c(seconds):
    # Blocked in C (the GIL released): an async exception waits for it.
    time.sleep(seconds)


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/pid':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(os.getpid()).encode()]
    if path == '/loop':
        # Caught here, in the caller: raised at the loop's backward jump,
        # an asynchronous exception can skip an `except` around the loop in
        # its own frame (seen on 3.13.0).
        started = time.time()
        try:
            loop_in_python()
        except mod_wsgi.RequestTimeout:
            mark(environ.get('QUERY_STRING') or 'loop',
                 'RequestTimeout after %.1fs' % (time.time() - started))
            raise
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'the loop ended']
    if path == '/sleep':
        sleep_in_c(float(environ.get('QUERY_STRING') or '30'))
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [('slept in %d' % os.getpid()).encode()]
    if path == '/stream-then-sleep':
        # The head and a first chunk go out, then the request is stuck.
        start_response('200 OK', [('Content-Type', 'text/plain')])

        def body():
            yield b'first chunk\n'
            sleep_in_c(30)
            yield b'never sent\n'
        return body()
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'no such test']
