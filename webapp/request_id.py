"""A request id for every request: in the response, the access log and the app's log lines.

An incoming ``X-Request-ID`` header is kept when it is sane (1 to 128 characters of letters,
digits and ``. _ : -``, starting with a letter or digit: what UUIDs, hex ids and proxies' ids
look like); anything else (too long, spaces, control characters, quotes that could forge log
lines) is replaced by a new random id (32 hex digits, ``uuid4``). The id is answered in the
``X-Request-ID`` response header, which gunicorn's access log prints (``%({x-request-id}o)s``,
:data:`webapp.serve.ACCESS_LOG_FORMAT`), and every record logged through ``app.logger`` during
the request carries it as ``record.request_id`` (``-`` outside a request), which the log format
of :mod:`webapp.serve` prints.

Questions hold customers' personal data: the app never logs a question's text at INFO level or
above, and the access log prints the path without its query string.
"""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def sane_request_id(value: str | None) -> str | None:
    """``value`` if it is usable as a request id, else ``None``.

    Examples:
        >>> sane_request_id("3f2a-9c41.b7:0")
        '3f2a-9c41.b7:0'
        >>> sane_request_id('x" 500 forged') is None, sane_request_id("a" * 129) is None, sane_request_id("") is None
        (True, True, True)
    """
    return value if value and _SANE.fullmatch(value) else None


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the current request's id, ``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def init_app(app: Flask) -> None:
    """Give every request of ``app`` an id (see the module docstring)."""
    app.before_request(_assign)
    app.after_request(_answer)
    if not any(isinstance(f, RequestIdFilter) for f in app.logger.filters):
        app.logger.addFilter(RequestIdFilter())


def _assign() -> None:
    g.request_id = sane_request_id(request.headers.get(HEADER)) or uuid.uuid4().hex


def _answer(response: Response) -> Response:
    response.headers[HEADER] = g.get("request_id") or uuid.uuid4().hex
    return response
