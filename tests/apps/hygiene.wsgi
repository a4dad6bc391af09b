# Daemon hygiene tests: what the process is and sees, one "key=value" a line.
import os


def application(environ, start_response):
    if environ['PATH_INFO'] == '/hold':
        # Holds the GIL in C for a while: calls through PyDLL keep it.
        import ctypes
        ctypes.PyDLL(None).sleep(int(environ.get('QUERY_STRING') or '30'))
    facts = {
        'pid': os.getpid(),
        'uid': os.getuid(),
        'root': ','.join(sorted(os.listdir('/'))),
        'marker': os.path.exists('/inside-the-jail'),
        'script_filename': environ['SCRIPT_FILENAME'],
        'document_root': environ.get('DOCUMENT_ROOT'),
        'file': __file__,
        'cwd': os.getcwd(),
    }
    body = ''.join('%s=%s\n' % kv for kv in facts.items()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
