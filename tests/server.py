"""``toiawase serve`` as a child process on 127.0.0.1, for the browser test and the latency benchmark.

Both need the real server (gunicorn, the command a person runs), started on a free local port,
waited for until ``/healthz`` answers, and stopped at the end whatever happened.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: Only ever a server on this machine.
HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent


class ServerStartError(RuntimeError):
    """The child server exited, has no model, or did not answer ``/healthz`` in time (message has its log)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (picked by the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


#: The rate limit of servers started here (one client address sends all the load).
LOAD_RATE_LIMIT = "1000000 per minute"


def start_server(
    model: str | os.PathLike, port: int, workers: int, log_path: Path, db: str | None = None, threshold: float | None = None,
    extra: Sequence[str] = (), env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Start ``toiawase serve`` in its own process group; its output goes to ``log_path``.

    ``db``: the feedback database URL (``--db``); ``None``: the server's default (the models
    directory's ``feedback.sqlite3``, unless ``$TOIAWASE_DB`` is set). ``threshold``:
    ``--threshold`` (``None``: the bundle's). ``extra`` are further ``toiawase serve`` options;
    ``env`` replaces the environment (default: this process's).
    """
    # Every request of the tests and load benchmarks comes from 127.0.0.1, one client for the rate
    # limiter (webapp.limits): raised unless the given environment sets a limit.
    env = dict(os.environ if env is None else env)
    env.setdefault("TOIAWASE_RATE_LIMIT", LOAD_RATE_LIMIT)
    command = [sys.executable, "-m", "toiawase", "serve", "--model", str(model),
               "--host", HOST, "--port", str(port), "--workers", str(workers), *extra]
    if db is not None:
        command += ["--db", db]
    if threshold is not None:
        command += ["--threshold", str(threshold)]
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)


def get_json(port: int, path: str, timeout: float = 5.0) -> tuple[int, dict]:
    """``GET path`` on the local server: (HTTP status, decoded JSON body)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def wait_until_healthy(port: int, process: subprocess.Popen, log_path: Path, timeout: float = 60.0) -> dict:
    """Poll ``/healthz`` every 0.2 s until it answers 200; return its JSON body.

    Raises:
        ServerStartError: if the process exits, ``/healthz`` answers another status (503: no
            model), or ``timeout`` seconds pass; the message includes the server's log.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(f"the server exited with status {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            status, body = get_json(port, "/healthz", timeout=2.0)
        except (OSError, http.client.HTTPException, ValueError):
            time.sleep(0.2)
            continue
        if status == 200:
            return body
        raise ServerStartError(f"/healthz answered {status}: {body}")
    raise ServerStartError(f"the server did not answer /healthz within {timeout:.0f} s:\n{log_path.read_text(errors='replace')}")


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's master (graceful), SIGKILL to its process group after 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def open_stalled_connections(port: int, count: int, head: bytes = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n") -> list[socket.socket]:
    """Open ``count`` connections that send ``head`` (a request line and a header, not the blank
    line ending the headers, RFC 9112 §2.1) and then nothing more: clients stalled mid-headers.

    The caller closes the sockets. Raises ``OSError`` if a connection cannot be made.
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection((HOST, port), timeout=5)
            sock.sendall(head)
            sockets.append(sock)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def timed_get(port: int, path: str, timeout: float) -> tuple[float, int | None]:
    """``GET path`` on a new connection: (seconds until the whole answer was read, status or
    ``None`` if it failed or took longer than ``timeout`` seconds)."""
    began = time.monotonic()
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return time.monotonic() - began, response.status
    except (OSError, http.client.HTTPException):
        return time.monotonic() - began, None
    finally:
        connection.close()
