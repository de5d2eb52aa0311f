"""Errors with a bilingual message, and the app-wide error handlers.

Every error the app answers is either JSON ``{"error": {"code", "message", "message_ja", ...}}``
(for ``/api/...``, ``/webhooks/...`` and ``/healthz``) or a Japanese HTML page (everything else), never an HTML
traceback. Unexpected exceptions are logged with their traceback and answered 500 without it.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from webapp.model_loading import MAKE_HINT, TRAIN_HINT

# Japanese texts for the HTTP errors Werkzeug raises itself (routing, body limits, methods).
_HTTP_JA = {
    400: "リクエストの形式が正しくありません。",
    401: "認証が必要です。",
    404: "ページが見つかりません。",
    405: "このメソッドは使えません。",
    413: "送信されたデータが大きすぎます。",
    415: "この形式のデータは受け付けていません。",
    429: "リクエストが多すぎます。しばらく待ってからもう一度お試しください。",
    500: "サーバー内部でエラーが起きました。",
}


class AppError(Exception):
    """An error answered with ``code`` and a message in English and Japanese.

    Attributes:
        code: the HTTP status (400 bad input, 503 no model, ...).
        message: the English message.
        message_ja: the same in Japanese (shown first on the pages).
        details: extra JSON fields for the API answer (e.g. ``{"index": 3}``).
        headers: extra response headers (e.g. ``WWW-Authenticate`` of a 401, ``Retry-After``).
    """

    def __init__(self, code: int, message: str, message_ja: str, headers: dict[str, str] | None = None, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_ja = message_ja
        self.details = details
        self.headers = headers or {}

    def to_dict(self) -> dict:
        """``{"error": {"code", "message", "message_ja", **details}}``."""
        return {"error": {"code": self.code, "message": self.message, "message_ja": self.message_ja, **self.details}}


def no_model_error(reason: str | None) -> AppError:
    """The 503 answered while no model bundle is loaded; says how to train one."""
    return AppError(
        503,
        f"No model is loaded ({reason}). Train one with `{TRAIN_HINT}` (or run `{MAKE_HINT}`); the server picks it up within seconds.",
        f"モデルが読み込まれていません。`{TRAIN_HINT}`（または `{MAKE_HINT}`）で学習してください。数秒でサーバーが読み込みます。",
    )


def wants_json() -> bool:
    """True for requests to the JSON API (``/api/...``), the webhooks (``/webhooks/...``) or the health check."""
    return request.path.startswith(("/api/", "/webhooks/")) or request.path == "/healthz"


def _answer(error: AppError) -> tuple[Response | str, int, dict[str, str]]:
    if wants_json():
        return jsonify(error.to_dict()), error.code, error.headers
    return render_template("error.html", error=error), error.code, error.headers


def _http_error(exc: HTTPException) -> tuple[Response | str, int, dict[str, str]]:
    code = exc.code or 500
    english = exc.description or exc.name
    if code == 413:
        limit = request.max_content_length
        english = f"The request body is larger than the limit of {limit:,} bytes." if limit else english
    if code == 429:  # Flask-Limiter's RateLimitExceeded (it adds Retry-After): the description is the limit, e.g. "600 per 1 minute"
        english = f"Too many requests from this client (limit: {exc.description}); please wait and try again."
    return _answer(AppError(code, english, _HTTP_JA.get(code, exc.name)))


def _unexpected(exc: Exception) -> tuple[Response | str, int, dict[str, str]]:
    from flask import current_app

    current_app.logger.exception("unexpected error on %s %s", request.method, request.path)
    return _answer(AppError(500, "Internal server error; the details are in the server log.", _HTTP_JA[500]))


def register_error_handlers(app: Flask) -> None:
    """Register the handlers for :class:`AppError`, every ``HTTPException`` and any other exception."""
    app.register_error_handler(AppError, _answer)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def register_malformed_request_handler(app: Flask, *exceptions: type[BaseException]) -> None:
    """Answer the WSGI server's own errors about a request's body as 400 with a message.

    A server raises them while the app reads ``wsgi.input``: gunicorn's
    ``gunicorn.http.errors.ParseException`` (``InvalidChunkSize``, ``ChunkMissingTerminator``...
    for a malformed chunked body, RFC 9112 §7.1) and ``NoMoreData`` (the body ended early).
    Without this they would be unexpected errors (500). :mod:`webapp.serve` passes gunicorn's.
    """

    def malformed(exc: BaseException) -> tuple[Response | str, int, dict[str, str]]:
        detail = type(exc).__name__
        return _answer(AppError(400, f"The request body is malformed or incomplete ({detail}).", "リクエストの本文が壊れているか、途中で切れています。"))

    for exception in exceptions:
        app.register_error_handler(exception, malformed)
