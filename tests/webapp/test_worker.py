"""When the buffering worker (webapp/worker.py) considers a request complete enough to hand to a thread."""

from __future__ import annotations

import pytest

from webapp.worker import MAX_BUFFERED_BODY, request_complete

HEAD = b"POST /api/v1/predict HTTP/1.1\r\nHost: x\r\n"

CASES = {
    "nothing yet": (b"", None),
    "only empty lines": (b"\r\n\r\n", None),
    "request line only": (b"GET / HTTP/1.1\r\n", False),
    "headers without the blank line": (b"GET / HTTP/1.1\r\nHost: x\r\n", False),
    "GET complete": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
    "bare LF line ends": (b"GET / HTTP/1.1\nHost: x\n\n", True),
    "leading empty line then a request": (b"\r\nGET / HTTP/1.1\r\n\r\n", True),
    "body missing": (HEAD + b"Content-Length: 10\r\n\r\n", False),
    "body partial": (HEAD + b"Content-Length: 10\r\n\r\n12345", False),
    "body complete": (HEAD + b"Content-Length: 10\r\n\r\n1234567890", True),
    "body and a pipelined request": (HEAD + b"Content-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n", True),
    "content-length any case": (HEAD + b"content-LENGTH: 3\r\n\r\nab", False),
    "bad content-length handed over": (HEAD + b"Content-Length: abc\r\n\r\n", True),
    "huge content-length handed over (413)": (HEAD + b"Content-Length: %d\r\n\r\n" % (MAX_BUFFERED_BODY + 1), True),
    "chunked: size line missing": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n", False),
    "chunked: data partial": (HEAD + b"Transfer-Encoding: chunked\r\n\r\na\r\n12345", False),
    "chunked: no last chunk": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n", False),
    "chunked: last chunk, no end of trailers": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n", False),
    "chunked: complete": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", True),
    "chunked: extension and trailer": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2;a=b\r\n{}\r\n0\r\nX-T: 1\r\n\r\n", True),
    "chunked: bad size handed over (400)": (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", True),
    "chunked: data longer than its size handed over (400)": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}}}\r\n", True),
}


@pytest.mark.parametrize("data, expected", CASES.values(), ids=CASES.keys())
def test_request_complete(data, expected):
    assert request_complete(data) is expected


def test_headers_beyond_gunicorns_limits_are_handed_over():
    assert request_complete(b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 900_000) is True
