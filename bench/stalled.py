"""How long ``GET /healthz`` takes while clients hold connections open without finishing their headers.

Usage::

    .venv/bin/python bench/stalled.py --model models                  # starts `toiawase serve`
    .venv/bin/python bench/stalled.py --port 8000 --stalled 64        # an already running server

Opens ``--stalled`` connections (default 64) that each send a request line and one header but
never the blank line that ends the headers (RFC 9112 §2.1), then sends ``--probes`` health checks
one after another, each on a new connection with a ``--timeout`` (seconds). Prints the time of
each probe and a summary (median, max, how many failed or timed out), first without stalled
connections, then with them. The goal of issue 12: every probe answers 200 within one second
with 64 stalled connections open. Not a test: the numbers depend on the machine.

Starting a server (no ``--port``): ``toiawase serve`` on a free 127.0.0.1 port with ``--workers``
and any ``--serve-option`` given (e.g. ``--serve-option=--no-buffer`` to measure the
unprotected server); it is always stopped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.server import (  # noqa: E402
    ServerStartError,
    free_port,
    open_stalled_connections,
    start_server,
    stop_server,
    timed_get,
    wait_until_healthy,
)


def probe(port: int, probes: int, timeout: float) -> list[tuple[float, int | None]]:
    """``probes`` sequential ``GET /healthz`` on new connections: (seconds, status or None)."""
    results = []
    for _ in range(probes):
        results.append(timed_get(port, "/healthz", timeout))
        time.sleep(0.1)
    return results


def summary(label: str, results: list[tuple[float, int | None]]) -> str:
    """One Markdown table row: label, median and max seconds, answered 200 / probes."""
    times = [t for t, _ in results]
    ok = sum(1 for _, status in results if status == 200)
    return f"| {label} | {statistics.median(times) * 1000:.1f} | {max(times) * 1000:.1f} | {ok}/{len(results)} |"


def measure(port: int, args: argparse.Namespace) -> list[str]:
    """Probe without and with stalled connections; return the table's rows."""
    rows = [summary("no stalled connection", probe(port, args.probes, args.timeout))]
    sockets = open_stalled_connections(port, args.stalled)
    try:
        time.sleep(args.settle)
        results = probe(port, args.probes, args.timeout)
        for i, (seconds, status) in enumerate(results):
            print(f"probe {i + 1}: {seconds * 1000:.1f} ms, status {status}", file=sys.stderr)
        rows.append(summary(f"{args.stalled} stalled connections", results))
    finally:
        for sock in sockets:
            sock.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (see the module docstring) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models", help="bundle or models directory (default: models)")
    parser.add_argument("--port", type=int, help="measure the server already listening on 127.0.0.1:PORT")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of the started server (default: 2)")
    parser.add_argument("--serve-option", action="append", default=[], help="extra `toiawase serve` option (repeatable)")
    parser.add_argument("--stalled", type=int, default=64, help="stalled connections (default: 64)")
    parser.add_argument("--probes", type=int, default=10, help="health checks each time (default: 10)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a probe counts as failed (default: 10)")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds between opening the connections and probing (default: 1)")
    args = parser.parse_args(argv)
    header = ["| | median ms | max ms | answered 200 |", "|---|---:|---:|---:|"]
    if args.port:
        rows = measure(args.port, args)
    else:
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="toiawase-stalled-") as tmp:
            log = Path(tmp) / "server.log"
            process = start_server(args.model, port, args.workers, log, extra=args.serve_option)
            try:
                try:
                    wait_until_healthy(port, process, log, 60)
                except ServerStartError as exc:
                    sys.exit(f"error: {exc}")
                rows = measure(port, args)
            finally:
                stop_server(process)
    print(f"GET /healthz, {args.probes} probes, timeout {args.timeout:g} s, server options {args.serve_option or 'default'}")
    print("\n".join(header + rows))


if __name__ == "__main__":
    main()
