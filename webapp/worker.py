"""A gunicorn worker that reads each whole request before a thread handles it (slow-client safety).

gunicorn's ``gthread`` worker hands a connection to a thread as soon as its first bytes arrive;
the thread then reads the rest of the headers and the body with blocking reads. A client that
sends ``GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n`` and then nothing holds that thread until it
goes away: with 2 workers × 4 threads, eight such connections froze the server (issue 12;
``bench/stalled.py``: 0 of 5 health checks answered within 10 s with 64 of them). gunicorn's
documentation says so itself ("Deploying Gunicorn": sync and threaded workers need a buffering
proxy in front against slow clients).

:class:`BufferingThreadWorker` does in the worker what such a proxy (nginx's
``proxy_request_buffering``) does: the main thread's event loop (the selector gthread already
runs) receives the request's bytes without blocking until the headers are complete (the blank
line, RFC 9112 §2.1) and so is the body (``Content-Length`` bytes, or the chunked coding up to
its last chunk and trailer section, RFC 9112 §7.1); only then is the connection given to a
thread, with the bytes already in gunicorn's parser buffer, so the thread never waits for the
client. A stalled connection costs a socket and a small buffer, never a thread; it is closed
after :data:`READ_TIMEOUT` seconds (a kept-alive connection waiting for its next request after
gunicorn's ``keepalive`` seconds).

Handed over at once, without waiting for more, so that gunicorn and the app answer them as usual:
headers beyond gunicorn's limits (431/400), a ``Content-Length`` that is not a number, a chunked
coding that is malformed (400 from the app), and a body larger than :data:`MAX_BUFFERED_BODY`
(the app's 413 is answered without reading it). ``Expect: 100-continue`` (RFC 9110 §10.1.1) is
answered ``100 Continue`` by the worker so that the client sends its body; gunicorn then sends a
second one, which HTTP/1.1 clients must accept (RFC 9110 §15.2). TLS is not buffered (gunicorn's
own ``--certfile`` path is left as it is; ``toiawase serve`` serves plain HTTP on 127.0.0.1 by
default).

Memory: at most ``worker_connections`` (1,000) connections per worker, each buffering at most
:data:`MAX_BUFFERED_BODY` bytes of body (16 MiB + 64 KiB, the app's own limit); in practice
requests are a few KB.
"""

from __future__ import annotations

import errno
import re
import selectors
import time
from collections import deque
from functools import partial

from gunicorn import http
from gunicorn.workers.gthread import TConn, ThreadWorker

#: Seconds a client may take to send one whole request (headers and body) once it started, and
#: a new connection to send its first byte.
READ_TIMEOUT = 15.0
#: Bytes received per ``recv`` call.
RECV_SIZE = 256 * 1024
#: Body bytes buffered at most; larger bodies are handed over (the app answers 413 unread).
MAX_BUFFERED_BODY = 16 * 1024 * 1024 + 64 * 1024
#: Header bytes buffered at most (gunicorn's default limits: an 8 KiB request line... 100
#: fields of 8 KiB); beyond, gunicorn's parser answers the error.
MAX_HEADER_BYTES = 4094 + 100 * 8190 + 4

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


def request_complete(data: bytes | bytearray) -> bool | None:
    """Whether ``data`` (the start of a connection's next bytes) holds one whole HTTP/1.1 request.

    Returns:
        ``True``: the headers and the whole body are there (or the request is malformed and
        gunicorn or the app can answer it without more bytes: a bad ``Content-Length``, a bad
        chunk size, headers or body over the limits); ``False``: more bytes are needed;
        ``None``: no bytes that could start a request yet (only empty lines, RFC 9112 §2.2).

    Examples:
        >>> request_complete(b"GET / HTTP/1.1\\r\\nHost: a\\r\\n")
        False
        >>> request_complete(b"GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n")
        True
        >>> request_complete(b"POST / HTTP/1.1\\r\\nContent-Length: 5\\r\\n\\r\\nab")
        False
        >>> request_complete(b"POST / HTTP/1.1\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n2\\r\\nab\\r\\n0\\r\\n\\r\\n")
        True
        >>> request_complete(b"POST / HTTP/1.1\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\n")
        True
    """
    start = 0
    while data[start:start + 2] == b"\r\n" or data[start:start + 1] == b"\n":
        start += 2 if data[start:start + 2] == b"\r\n" else 1
    if start == len(data):
        return None
    end = _HEADER_END.search(data, start)
    if end is None:
        return len(data) - start > MAX_HEADER_BYTES
    head = bytes(data[start:end.start()]).split(b"\n")[1:]
    body = end.end()
    length: bytes | None = None
    chunked = False
    for line in head:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = value.strip()
        elif name == b"transfer-encoding":
            chunked = chunked or b"chunked" in value.lower()
    if chunked:
        return _chunked_complete(data, body)
    if length is None:
        return True
    if not length.isdigit() or len(length) > 12:
        return True  # gunicorn answers 400 for it
    size = int(length)
    return size > MAX_BUFFERED_BODY or len(data) - body >= size


def _chunked_complete(data: bytes | bytearray, position: int) -> bool:
    """Whether the chunked body starting at ``position`` is complete (or malformed, or too big)."""
    total = 0
    while True:
        line_end = data.find(b"\n", position)
        if line_end < 0:
            return len(data) - position > 4096  # a chunk-size line this long is malformed
        size_text = bytes(data[position:line_end]).rstrip(b"\r").split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(size_text):
            return True  # malformed: the app answers 400
        size = int(size_text, 16)
        position = line_end + 1
        if size == 0:
            # The trailer section, ended by an empty line (RFC 9112 §7.1.2).
            while True:
                line_end = data.find(b"\n", position)
                if line_end < 0:
                    return False
                if bytes(data[position:line_end]).rstrip(b"\r") == b"":
                    return True
                position = line_end + 1
        total += size
        if total > MAX_BUFFERED_BODY:
            return True
        position += size
        if len(data) < position + 2:
            return False
        if data[position:position + 2] == b"\r\n":
            position += 2
        elif data[position:position + 1] == b"\n":
            position += 1
        else:
            return True  # no line end after the chunk data: malformed


def _expects_continue(data: bytes | bytearray) -> bool:
    """Whether the (complete) headers in ``data`` carry ``Expect: 100-continue`` on HTTP/1.1."""
    end = _HEADER_END.search(data)
    if end is None:
        return False
    lines = bytes(data[:end.start()]).lower().split(b"\n")
    return lines[0].rstrip().endswith(b"http/1.1") and any(
        line.partition(b":")[0].strip() == b"expect" and b"100-continue" in line for line in lines[1:])


class BufferingThreadWorker(ThreadWorker):
    """gunicorn's ``gthread`` worker, but a thread only ever gets a connection whose next request
    has fully arrived (see the module docstring). Configured like ``gthread`` (``threads``,
    ``keepalive``, ``worker_connections``); ``worker_class =
    "webapp.worker.BufferingThreadWorker"``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.buffering: deque[TConn] = deque()

    def enqueue_req(self, conn: TConn) -> None:
        """Give ``conn`` to a thread once its next request is complete; buffer it until then."""
        if self.cfg.is_ssl:
            super().enqueue_req(conn)
            return
        pending = bytearray()
        if conn.parser is not None:
            pending += conn.parser.unreader.take_buffered()
        conn.pending = pending
        conn.continued = False
        conn.started = bool(pending.strip())
        if pending and request_complete(pending):
            self._hand_over(conn)
            return
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + READ_TIMEOUT
        self.buffering.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _hand_over(self, conn: TConn) -> None:
        """Put the buffered bytes in front of gunicorn's parser and submit the connection."""
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.initialized = False
        conn.parser.unreader.unread(bytes(conn.pending))
        conn.pending = bytearray()
        conn.data_ready = True
        conn.sock.setblocking(True)
        if not conn.initialized:
            conn.initialized = True  # the parser exists: TConn.init() has nothing left to do
        super().enqueue_req(conn)

    def _on_readable(self, conn: TConn, _sock) -> None:
        """Receive what arrived; hand the connection over when its request is complete."""
        try:
            data = conn.sock.recv(RECV_SIZE)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.pending += data
        complete = request_complete(conn.pending)
        if complete:
            self._unregister(conn)
            self._hand_over(conn)
        elif complete is False and not conn.continued and _expects_continue(conn.pending):
            conn.continued = True
            try:
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                pass

    def _unregister(self, conn: TConn) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        try:
            self.buffering.remove(conn)
        except ValueError:
            pass

    def _drop(self, conn: TConn) -> None:
        """Close a connection that went away or took too long (nothing is answered)."""
        self._unregister(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """gthread's pending-connection timeouts, and the buffering connections' (:data:`READ_TIMEOUT`)."""
        super().murder_pending()
        now = time.monotonic()
        while self.buffering and self.buffering[0].timeout <= now:
            self._drop(self.buffering[0])

    def on_client_socket_readable(self, conn: TConn, client) -> None:
        """A kept-alive connection became readable: buffer its next request (gunicorn's
        ``keepalive`` seconds were its idle limit; the request itself gets :data:`READ_TIMEOUT`)."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.enqueue_req(conn)
