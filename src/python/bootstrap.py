# The Python half of mod_wsgi-rs, executed once in every interpreter (main and
# each sub-interpreter) as the body of that interpreter's `mod_wsgi` module.
#
# Defining these classes in each interpreter keeps their type objects
# per-interpreter (PyO3's #[pyclass] would share one across interpreters).
# The functions whose names start with `_rs_` are Rust closures created in this
# interpreter and installed before this file runs; they take the request handle
# (an int) that the Rust adapter gives each request and check it is still live.

import os as _os
import sys as _sys
import threading as _threading
import types as _types
import traceback as _traceback

_LOG_EMERG, _LOG_ALERT, _LOG_CRIT, _LOG_ERR, _LOG_WARNING, _LOG_NOTICE, _LOG_INFO, _LOG_DEBUG = range(8)


class Input(object):
    """wsgi.input: the request body (PEP 3333, with wsgi.input_terminated)."""

    __slots__ = ('_h',)

    def __init__(self, handle):
        self._h = handle

    def read(self, size=-1):
        if size is None:
            size = -1
        return _rs_input_read(self._h, int(size))

    def readline(self, size=-1):
        if size is None:
            size = -1
        return _rs_input_readline(self._h, int(size))

    def readlines(self, hint=-1):
        if hint is None:
            hint = -1
        hint = int(hint)
        lines = []
        total = 0
        while True:
            line = _rs_input_readline(self._h, -1)
            if not line:
                break
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = _rs_input_readline(self._h, -1)
        if not line:
            raise StopIteration
        return line

    def close(self):
        pass


class ErrorLog(object):
    """A text stream onto Apache's error log. Complete lines are logged as they
    are written; a partial last line waits for flush() or the end of the request.
    Partial lines are buffered per thread, so concurrent requests printing to
    the shared sys.stdout/sys.stderr never mix their lines; a stream made with
    handle 0 logs against whatever request the writing thread is serving."""

    def __init__(self, handle=0, level=_LOG_ERR, name='<wsgi.errors>'):
        self._h = handle
        self._level = level
        self._local = _threading.local()
        self.name = name

    encoding = 'utf-8'
    errors = 'backslashreplace'
    closed = False
    newlines = None
    line_buffering = True

    def isatty(self):
        return False

    def fileno(self):
        import io
        raise io.UnsupportedOperation('the Apache error log has no file descriptor')

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError('write() argument must be str, not %s' % type(text).__name__)
        lines = (getattr(self._local, 'buffer', '') + text).split('\n')
        self._local.buffer = lines.pop()
        for line in lines:
            _rs_log(self._h, self._level, line)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        data = getattr(self._local, 'buffer', '')
        self._local.buffer = ''
        if data:
            _rs_log(self._h, self._level, data)

    def close(self):
        self.flush()


def _flush_std():
    """End of a request: what this thread left in sys.stdout/sys.stderr
    without a final newline is logged against the request."""
    for stream in (_sys.stdout, _sys.stderr):
        if isinstance(stream, ErrorLog):
            try:
                stream.flush()
            except BaseException:
                # Also a RequestTimeout landing here: the request is over.
                pass


class _RestrictedStream(object):
    """sys.stdin / sys.stdout under WSGIRestrictStdin / WSGIRestrictStdout."""

    def __init__(self, name, what):
        self.name = name
        self._what = what

    def _refuse(self, *args, **kwargs):
        raise OSError('%s access restricted by mod_wsgi (%s On)' % (self.name, self._what))

    read = readline = readlines = write = writelines = fileno = _refuse

    def flush(self):
        pass

    def isatty(self):
        return False


class FileWrapper(object):
    """wsgi.file_wrapper. When an application returns one over a real file, the
    server sends the file itself (sendfile/mmap) instead of iterating it."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class _StartResponse(object):
    """The start_response callable of one request."""

    __slots__ = ('_h',)

    def __init__(self, handle):
        self._h = handle

    def __call__(self, status, response_headers, exc_info=None):
        _rs_start_response(self._h, status, response_headers, exc_info)
        if event_callbacks:
            _response_started(status, response_headers, exc_info)
        return self.write

    def write(self, data):
        _rs_write(self._h, data)


# --- Script loading -----------------------------------------------------------

_load_lock = _threading.Lock()


def _exec_script(name, path, mtime):
    with open(path, 'rb') as f:
        source = f.read()
    code = compile(source, path, 'exec', dont_inherit=True)
    module = _types.ModuleType(name)
    module.__file__ = path
    module.__mtime__ = mtime
    # Like PyImport_ExecCodeModuleEx: visible in sys.modules while it runs
    # (so the script can import itself, pickle its classes...), removed if it fails.
    _sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        if _sys.modules.get(name) is module:
            del _sys.modules[name]
        raise
    return module


# Fully executed script modules by name. sys.modules also holds a module while
# it executes (so it can import itself), but only this dict is trusted: a
# half-executed module must never serve a request.
_loaded = {}


def _file_mtime(path, default):
    try:
        return _os.stat(path).st_mtime_ns // 1000
    except OSError:
        return default


def _script_changed(name, mtime):
    """Daemon mode: whether the loaded module of a script was executed from
    another version of its file than the one modified at `mtime` (the
    daemon's own stat). A module not loaded yet has not changed."""
    module = _loaded.get(name)
    return module is not None and getattr(module, '__mtime__', None) != mtime


def _reload_required(module, resource):
    """The script's own say on reloading (mod_wsgi's `reload_required`
    hook): called with the target file of the request. An exception is
    logged and means no."""
    hook = module.__dict__.get('reload_required')
    if hook is None:
        return False
    try:
        return bool(hook(resource))
    except Exception:
        _log_exception("mod_wsgi (pid=%d): Exception occurred processing WSGI script '%s'."
                       % (_os.getpid(), module.__file__))
        return False


def _load_script(name, path, mtime, reloading, resource=None):
    """The module for a WSGI script, (re)loading it when needed: when its
    modification time changed or, for a request's script given `resource`,
    its `reload_required(resource)` says so. The lock is taken only on a
    miss; concurrent requests keep using the module they already hold, so a
    reload never exposes a half-executed module."""
    module = _loaded.get(name)
    if module is not None and not reloading:
        return module
    forced = False
    if module is not None and module.__mtime__ == mtime:
        if resource is None or not _reload_required(module, resource):
            return module
        forced = True
    seen = module
    with _load_lock:
        module = _loaded.get(name)
        if module is not None:
            if not reloading:
                return module
            # Decide on the file as it is now, not as this request saw it, so
            # requests that raced a change do not reload it back and forth.
            mtime = _file_mtime(path, mtime)
            if module.__mtime__ == mtime and not (forced and module is seen):
                return module
            _log_server(_LOG_INFO, "Reloading WSGI script '%s'." % path)
        module = _exec_script(name, path, mtime)
        _loaded[name] = module
        return module


# --- Events, request data, shutdown ------------------------------------------

event_callbacks = []
shutdown_callbacks = []
active_requests = {}
_current = _threading.local()


def subscribe_events(callback):
    """Registers callback(name, **event) for request_started, response_started,
    request_finished, request_exception and process_stopping."""
    event_callbacks.append(callback)
    return callback


def subscribe_shutdown(callback):
    """Registers callback(event) for process_stopping."""
    shutdown_callbacks.append(callback)
    return callback


def subscribe_signals(callback):
    _log_server(_LOG_WARNING, 'mod_wsgi.subscribe_signals() has no effect in embedded mode.')
    return callback


def request_data():
    """The scratch dict of the request running on this thread."""
    data = getattr(_current, 'data', None)
    if data is None:
        raise RuntimeError('no active request on this thread')
    return data


def _publish(name, event):
    for callback in list(event_callbacks):
        try:
            result = callback(name, **event)
            if isinstance(result, dict):
                event.update(result)
        except RequestTimeout:
            raise
        except BaseException:
            _log_exception('Exception in mod_wsgi event callback for %r.' % name)
    return event


def _begin_request(handle, environ, application, callable_object):
    data = {}
    _current.data = data
    active_requests[handle] = environ
    if not event_callbacks:
        return application
    event = _publish('request_started', {
        'request_id': environ.get('mod_wsgi.request_id'),
        'thread_id': environ.get('mod_wsgi.thread_id'),
        'server_pid': environ.get('mod_wsgi.server_pid'),
        'request_start': environ.get('mod_wsgi.request_start'),
        'application_start': environ.get('mod_wsgi.application_start'),
        'application_object': application,
        'callable_object': callable_object,
        'request_environ': environ,
        'request_data': data,
    })
    return event.get('application_object', application)


def _response_started(status, headers, exc_info):
    if event_callbacks:
        _publish('response_started', {'response_status': status, 'response_headers': headers,
                                      'exception_info': exc_info, 'request_data': getattr(_current, 'data', None)})


def _request_exception(exc_info):
    if event_callbacks:
        _publish('request_exception', {'exception_info': exc_info,
                                       'request_data': getattr(_current, 'data', None)})


def _end_request(handle, status, output_bytes, input_bytes, elapsed, errors=None):
    environ = active_requests.pop(handle, None)
    try:
        # What the application wrote to wsgi.errors (as it got it),
        # sys.stdout or sys.stderr without a final newline is logged
        # against the request.
        if errors is not None:
            try:
                errors.flush()
            except BaseException:
                # Also a RequestTimeout landing here: the request is over,
                # and request_finished must still be published.
                pass
        _flush_std()
        if event_callbacks:
            _publish('request_finished', {
                'response_status': status, 'output_length': output_bytes,
                'input_length': input_bytes, 'application_time': elapsed,
                'request_environ': environ, 'request_data': getattr(_current, 'data', None),
            })
    finally:
        _current.data = None


def _process_stopping(reason):
    event = {'shutdown_reason': reason}
    _publish('process_stopping', dict(event))
    for callback in list(shutdown_callbacks):
        try:
            callback(event)
        except BaseException:
            _log_exception('Exception in mod_wsgi shutdown callback.')


# --- Logging helpers ----------------------------------------------------------

def _make_log_handler():
    import logging

    class LogHandler(logging.Handler):
        """A logging handler writing to Apache's error log: CRITICAL, ERROR,
        WARNING, INFO and DEBUG records become [wsgi:crit|error|warn|info|debug]
        lines, with the client context when logged during a request."""

        def emit(self, record):
            try:
                text = self.format(record)
            except Exception:
                self.handleError(record)
                return
            level = record.levelno
            if level >= logging.CRITICAL:
                apache_level = _LOG_CRIT
            elif level >= logging.ERROR:
                apache_level = _LOG_ERR
            elif level >= logging.WARNING:
                apache_level = _LOG_WARNING
            elif level >= logging.INFO:
                apache_level = _LOG_INFO
            else:
                apache_level = _LOG_DEBUG
            for line in text.split('\n'):
                _rs_log(0, apache_level, line)

    return LogHandler


class RequestTimeout(BaseException):
    """Raised in a request thread that exceeded its daemon's request-timeout
    (with interrupt-timeout set). A BaseException, so `except Exception:`
    does not swallow it; code that catches it should re-raise it. If it
    reaches the server before any output, the request is answered 504."""


def _format_stack(ident):
    """Thread `ident`'s Python stack in this interpreter (most recent call
    last), or None: what a request that exceeded request-timeout is doing."""
    frame = _sys._current_frames().get(ident)
    if frame is None:
        return None
    return ''.join(_traceback.format_stack(frame))


def _format_other_stacks(ident):
    """Every other thread's stack in this interpreter but the caller's,
    each after a 'Thread 0x...' line."""
    me = _threading.get_ident()
    out = []
    for tid, frame in sorted(_sys._current_frames().items()):
        if tid == ident or tid == me:
            continue
        out.append('Thread 0x%016x (most recent call last):\n' % tid)
        out.append(''.join(_traceback.format_stack(frame)))
    return ''.join(out)


def __getattr__(name):
    # `logging` is imported only by applications that use mod_wsgi.LogHandler.
    if name == 'LogHandler':
        handler = _make_log_handler()
        globals()['LogHandler'] = handler
        return handler
    raise AttributeError("module 'mod_wsgi' has no attribute %r" % name)


def _log_server(level, message):
    for line in message.split('\n'):
        _rs_log(0, level, line)


def _log_exception(message=None, handle=0):
    if message:
        _rs_log(handle, _LOG_ERR, message)
    for chunk in _traceback.format_exception(*_sys.exc_info()):
        for line in chunk.rstrip('\n').split('\n'):
            _rs_log(handle, _LOG_ERR, line)


def _format_exception(exc):
    return ''.join(_traceback.format_exception(type(exc), exc, exc.__traceback__))


# --- Per-interpreter setup ----------------------------------------------------

def _signal_ignored(signum, handler, *args, **kwargs):
    stack = ''.join(_traceback.format_stack()[:-1]).rstrip('\n')
    _log_server(_LOG_WARNING, 'Callback registration for signal %d ignored.' % signum)
    _log_server(_LOG_WARNING, stack)
    try:
        import signal
        return signal.getsignal(signum)
    except Exception:
        return None


def _setup(python_path, restrict_stdin, restrict_stdout, restrict_signal, switch_interval, python_eggs):
    import os
    import site
    _sys.argv = ['mod_wsgi']
    # Layers (the process's directories, then each matching
    # <WSGIInterpreterOptions>, least specific first): each layer's entries,
    # and what their .pth files add, go in front of everything before them.
    for layer in python_path:
        if not layer:
            continue
        before = list(_sys.path)
        for entry in layer:
            site.addsitedir(entry)
        added = [p for p in _sys.path if p not in before]
        _sys.path[:] = added + before
    if python_eggs:
        os.environ['PYTHON_EGG_CACHE'] = python_eggs
    if switch_interval:
        _sys.setswitchinterval(switch_interval)
    _sys.stderr = ErrorLog(0, _LOG_ERR, '<stderr>')
    if restrict_stdout:
        _sys.stdout = _RestrictedStream('sys.stdout', 'WSGIRestrictStdout')
    else:
        _sys.stdout = ErrorLog(0, _LOG_ERR, '<stdout>')
    if restrict_stdin:
        _sys.stdin = _RestrictedStream('sys.stdin', 'WSGIRestrictStdin')
    if restrict_signal:
        import signal
        signal.signal = _signal_ignored


# What every request uses, fetched by the adapter (adapter.rs `Helpers`) in
# one lookup instead of seven by name. Order matters.
_per_request = (Input, ErrorLog, FileWrapper, _load_script, _StartResponse,
                _begin_request, _end_request)
