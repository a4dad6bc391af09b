# mod_wsgi.subscribe_events: response_started carries what start_response got.
import mod_wsgi

seen = []


def on_event(name, **event):
    if name == 'response_started':
        seen.append((event['response_status'], event['response_headers'],
                     event['exception_info'] is not None))


mod_wsgi.subscribe_events(on_event)


def application(environ, start_response):
    if environ['PATH_INFO'] == '/seen':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [repr(seen).encode()]
    start_response('201 Created', [('X-A', '1')])
    return [b'created']
