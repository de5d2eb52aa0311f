"""HTTP latency of single-question ``POST /api/v1/predict`` through the real server (gunicorn).

Usage::

    .venv/bin/python bench/latency.py --model models --requests 2000
    .venv/bin/python bench/latency.py --model models --requests 5000 --concurrency 4 --json-out bench/results/latency.json
    .venv/bin/python bench/latency.py --model models --requests 1000 --batch-clients 4   # singles behind batches

Starts ``toiawase serve`` (gunicorn, the same command a person runs) on a free port of 127.0.0.1,
waits for ``/healthz``, then sends ``--requests`` single-question requests with varied Japanese
questions. Each client thread (``--concurrency``, default 1: sequential) keeps one HTTP/1.1
keep-alive connection (``http.client``). The first ``--warmup`` requests of each thread are not
measured. Latency is wall-clock time from sending the request to reading the whole answer, in
milliseconds, on the client; requests/s is measured requests over the measuring wall time.
Prints a Markdown table, optionally writes JSON, and always stops the server.

With ``--batch-clients N``, N more threads send 100-question requests back to back for the whole
measurement (their answers are read, not decoded, to keep this process's own CPU use low): the
latency of single questions while batches run (issue 12). ``--serve-option`` passes options to
``toiawase serve`` (e.g. ``--serve-option=--worker-class=gthread``).

The goal of issue #3: p50 ≤ 10 ms on a 2-core machine (``model.predict()`` per request costs
about 100 ms). Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "loadtest"))

from questions import QUESTIONS  # noqa: E402  bench/loadtest/questions.py, shared with the load test
from tests.server import (
    HOST,
    ServerStartError,
    free_port,
    start_server,
    stop_server,
    wait_until_healthy,
)

START_TIMEOUT = 60.0  # seconds for the server to answer /healthz


def client(port: int, indices: range, warmup: int, latencies: list[float], errors: list[str], start: threading.Barrier) -> None:
    """One client thread: ``warmup`` unmeasured requests, then one measured request per index."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    bodies = [json.dumps({"question": q}, ensure_ascii=False).encode("utf-8") for q in QUESTIONS]

    def send(i: int) -> float:
        began = time.perf_counter()
        connection.request("POST", "/api/v1/predict", body=bodies[i % len(bodies)], headers=headers)
        response = connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - began) * 1000.0
        if response.status != 200:
            errors.append(f"{response.status}: {data[:200]!r}")
        return elapsed

    try:
        for i in range(warmup):
            send(i)
        start.wait()
        mine = [send(i) for i in indices]
        latencies.extend(mine)  # list.extend is atomic under the GIL
    except Exception as exc:  # noqa: BLE001 - reported, the benchmark then fails
        errors.append(f"{type(exc).__name__}: {exc}")
        start.abort()
    finally:
        connection.close()


def batch_client(port: int, stop: threading.Event, counts: list[int], errors: list[str]) -> None:
    """Send 100-question requests back to back until ``stop``; count the answers."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    body = json.dumps({"questions": [QUESTIONS[i % len(QUESTIONS)] + f" {i}" for i in range(100)]}, ensure_ascii=False).encode()
    try:
        while not stop.is_set():
            connection.request("POST", "/api/v1/predict", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"batch: {response.status}")
            counts.append(1)
    except Exception as exc:  # noqa: BLE001 - reported
        errors.append(f"batch: {type(exc).__name__}: {exc}")
    finally:
        connection.close()


def run(args: argparse.Namespace) -> dict:
    """Start the server, measure, stop the server; return the results dict."""
    port = free_port()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="toiawase-latency-") as tmp:
        log_path = Path(tmp) / "server.log"
        process = start_server(args.model, port, args.workers, log_path, extra=args.serve_option)
        try:
            try:
                health = wait_until_healthy(port, process, log_path, START_TIMEOUT)
            except ServerStartError as exc:
                sys.exit(f"error: {exc}")
            latencies: list[float] = []
            errors: list[str] = []
            per_thread = [range(t, args.requests, args.concurrency) for t in range(args.concurrency)]
            barrier = threading.Barrier(args.concurrency + 1)
            threads = [threading.Thread(target=client, args=(port, r, args.warmup, latencies, errors, barrier), daemon=True)
                       for r in per_thread]
            stop_batches = threading.Event()
            batches: list[int] = []
            batchers = [threading.Thread(target=batch_client, args=(port, stop_batches, batches, errors), daemon=True)
                        for _ in range(args.batch_clients)]
            for thread in batchers:
                thread.start()
            if batchers:
                time.sleep(2)  # batches are running before singles are measured
            for thread in threads:
                thread.start()
            try:
                barrier.wait(timeout=120)
            except threading.BrokenBarrierError:
                pass
            began = time.perf_counter()
            for thread in threads:
                thread.join(timeout=600)
            wall = time.perf_counter() - began
            stop_batches.set()
            for thread in batchers:
                thread.join(timeout=120)
        finally:
            stop_server(process)
    if errors:
        sys.exit(f"error: {len(errors)} failed request(s), first: {errors[0]}")
    values = sorted(latencies)
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": health.get("model_version"),
        "machine": {"cpus": os.cpu_count(), "load_average_1min_before": round(load_before, 2),
                    "platform": platform.platform(), "python": platform.python_version()},
        "server": {"workers": args.workers, "command": "toiawase serve (gunicorn gthread)"},
        "requests": len(values),
        "warmup_per_connection": args.warmup,
        "concurrency": args.concurrency,
        "batch_clients": args.batch_clients,
        "batches_per_second": len(batches) / wall if wall > 0 else float("nan"),
        "serve_options": args.serve_option,
        "latency_ms": {
            "p50": float(np.percentile(values, 50)),
            "p90": float(np.percentile(values, 90)),
            "p99": float(np.percentile(values, 99)),
            "mean": statistics.fmean(values),
            "max": values[-1],
        },
        "requests_per_second": len(values) / wall if wall > 0 else float("nan"),
    }


def markdown(result: dict) -> str:
    """A short Markdown table of the result."""
    ms = result["latency_ms"]
    header = (
        f"Single-question `POST /api/v1/predict`, model `{result['model_version']}`, "
        f"{result['server']['workers']} gunicorn worker(s), concurrency {result['concurrency']}, "
        f"{result['batch_clients']} batch client(s) ({result['batches_per_second']:.1f} 100-question calls/s), "
        f"server options {result['serve_options'] or 'default'}, "
        f"{result['requests']} requests after {result['warmup_per_connection']} warm-up per connection, "
        f"{result['machine']['cpus']} CPUs (1-min load average before: {result['machine']['load_average_1min_before']})"
    )
    return "\n".join([
        header,
        "",
        "| p50 ms | p90 ms | p99 ms | mean ms | max ms | requests/s |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {ms['p50']:.2f} | {ms['p90']:.2f} | {ms['p99']:.2f} | {ms['mean']:.2f} | {ms['max']:.2f} | {result['requests_per_second']:.0f} |",
    ])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models", help="bundle or models directory (default: models)")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests in total (default: 2000)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured requests per connection first (default: 50)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default: 2)")
    parser.add_argument("--concurrency", type=int, default=1, help="client threads, one connection each (default: 1)")
    parser.add_argument("--batch-clients", type=int, default=0, help="threads sending 100-question calls meanwhile (default: 0)")
    parser.add_argument("--serve-option", action="append", default=[], help="extra `toiawase serve` option (repeatable)")
    parser.add_argument("--json-out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.workers < 1 or not 1 <= args.concurrency <= 64:
        parser.error("--requests and --workers must be ≥ 1, --warmup ≥ 0, --concurrency 1–64")
    if args.concurrency > args.requests:
        parser.error("--concurrency must not exceed --requests")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print (and optionally save) the result."""
    args = parse_args(argv)
    result = run(args)
    print(markdown(result))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"\nwritten: {args.json_out}")


if __name__ == "__main__":
    main()
