# mod_wsgi's metrics functions, flattened into lines `PATH<TAB>TYPE<TAB>VALUE`
# (PATH joins dict keys and list indexes with '.'; a dict or list has its
# length as VALUE). Routed by PATH_INFO.
import os
import time

import mod_wsgi


def flatten(value, path, out):
    kind = type(value).__name__
    if isinstance(value, dict):
        out.append('%s\t%s\t%d' % (path, kind, len(value)))
        for k, v in value.items():
            flatten(v, path + '.' + k if path else k, out)
    elif isinstance(value, list):
        out.append('%s\t%s\t%d' % (path, kind, len(value)))
        for i, v in enumerate(value):
            flatten(v, '%s.%d' % (path, i), out)
    else:
        out.append('%s\t%s\t%s' % (path, kind, value))
    return out


def settle():
    # A request's end is recorded just after its response reached the
    # client, so the client's next request can overtake it: '?settle'
    # waits (bounded) until this request is the only one in progress.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        process = mod_wsgi.process_metrics()
        if process is None or process['active_requests'] <= 1:
            return
        time.sleep(0.005)


def application(environ, start_response):
    path = environ['PATH_INFO']
    if environ.get('QUERY_STRING') == 'settle':
        settle()
    status = '200 OK'
    if path == '/start':
        body = mod_wsgi.start_recording_metrics()
    elif path == '/process':
        body = mod_wsgi.process_metrics()
    elif path == '/request':
        body = mod_wsgi.request_metrics()
    elif path == '/server':
        body = mod_wsgi.server_metrics()
        if body is not None:
            # The order of the keys (flattened, a dict's order is lost).
            body['order'] = [k for k in body if k != 'order']
            body['order_process'] = list(body['processes'][0])
            body['order_worker'] = list(body['processes'][0]['workers'][0])
    elif path == '/keys':
        process = mod_wsgi.process_metrics()
        body = {'process': list(process), 'request': list(mod_wsgi.request_metrics()),
                'thread': list(process['threads'][0])}
    elif path == '/arguments':
        body = {}
        for name in ('start_recording_metrics', 'process_metrics',
                     'request_metrics', 'server_metrics'):
            try:
                getattr(mod_wsgi, name)(1)
                body[name] = 'accepted'
            except TypeError as e:
                body[name] = str(e)
    elif path == '/environ':
        body = {k: environ[k] for k in ('mod_wsgi.thread_id', 'mod_wsgi.request_start',
                                        'mod_wsgi.queue_start', 'mod_wsgi.daemon_start',
                                        'mod_wsgi.application_start')}
        body['pid'] = os.getpid()
    elif path == '/sleep':
        time.sleep(float(environ.get('QUERY_STRING') or '0.2'))
        body = 'slept'
    elif path == '/upload':
        body = len(environ['wsgi.input'].read())
    elif path == '/missing':
        status = '404 Not Found'
        body = 'missing'
    else:
        body = 'hello'
    data = '\n'.join(flatten(body, '', [])).encode()
    start_response(status, [('Content-Type', 'text/plain'),
                            ('Content-Length', str(len(data)))])
    return [data]
