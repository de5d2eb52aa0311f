"""Load test: a crowd of agents against the real server (Locust, headless), and the in-process fast path.

Usage (``make load``)::

    .venv/bin/python bench/loadtest/run.py --model models                     # 32 users, 60 s
    .venv/bin/python bench/loadtest/run.py --model models --users 32 --duration 60 --single-only 20
    .venv/bin/python bench/loadtest/run.py --port 8000                        # a running server

Steps:

1. the in-process fast path: ``Predictor.predict([question])`` one question at a time in this
   process (one thread), ``--fast-path-calls`` calls: calls per second and p50/p99 in ms;
2. unless ``--port`` is given, ``toiawase serve`` on a free 127.0.0.1 port (``--workers``, any
   ``--serve-option``), waited for until ``/healthz`` answers; stopped at the end;
3. ``--warmup`` seconds (default 10) of the same Locust mix, not recorded: each of the workers'
   threads makes its MeCab tagger and database connection on its first request, which a server
   that has been up for a while has long done (cold, those first requests made the p99 of a
   20 s run);
4. ``locust --headless -u USERS -r USERS -t DURATION`` with ``bench/loadtest/locustfile.py`` (the
   mix is described there), statistics written as CSV (``--csv``) and read back;
5. with ``--single-only SECONDS``: a second Locust run of single-question calls only, without
   think time, for the HTTP throughput of single questions;
6. prints a Markdown table per run: requests, failures, requests/s, p50 and p99 in ms per kind
   (Locust's percentiles: exact below 100 ms, rounded to 10 ms up to 1 s, to 100 ms above); the
   ratio of single-question HTTP throughput to the in-process fast path; the workers' resident
   memory (``VmRSS`` of ``/proc/PID/status``) before and after.

Locust runs on the same machine and takes CPU from the server: on 2 shared cores, the figures
are those of the whole. Issue 12's goal on 2 cores: single-question API p99 ≤ 100 ms while
batches run, and 0 errors. Exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

from tests.server import ServerStartError, free_port, start_server, stop_server, wait_until_healthy  # noqa: E402

KINDS = ["api single", "api batch 100", "form POST", "form GET", "GET /model", "GET /healthz", "Aggregated"]


def fast_path(model: str, calls: int) -> dict[str, float]:
    """Single questions through ``Predictor.predict`` in-process: calls/s, p50 and p99 in ms."""
    from questions import QUESTIONS  # noqa: PLC0415 - bench/loadtest/questions.py; locust is not imported here
    from routing.predictor import load_predictor

    predictor = load_predictor(model)
    for question in QUESTIONS:
        predictor.predict([question])
    times = []
    began = time.perf_counter()
    for i in range(calls):
        start = time.perf_counter()
        predictor.predict([QUESTIONS[i % len(QUESTIONS)]])
        times.append((time.perf_counter() - start) * 1000)
    wall = time.perf_counter() - began
    times.sort()
    return {"per_second": calls / wall, "p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99)]}


def worker_memory(master: int) -> list[float]:
    """Resident memory (MiB) of each child process of ``master`` (the gunicorn workers)."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    sizes = []
    for pid in children:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return sizes


def run_locust(port: int, users: int, duration: int, prefix: Path, only_single: bool) -> dict[str, dict[str, str]]:
    """Run Locust headless; return its ``_stats.csv`` rows by name.

    Raises:
        RuntimeError: if Locust wrote no statistics (its output is in the message).
    """
    env = dict(os.environ, PYTHONPATH=str(HERE.parent.parent))
    if only_single:
        env["LOCUST_ONLY_SINGLE"] = "1"
    command = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless", "-u", str(users), "-r", str(users),
               "-t", f"{duration}s", "--host", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--only-summary",
               "--stop-timeout", "10", "--loglevel", "WARNING"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 120)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"locust wrote no statistics (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    with stats.open(newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def table(rows: dict[str, dict[str, str]]) -> str:
    """The Markdown table of one Locust run."""
    lines = ["| kind | requests | failures | requests/s | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        row = rows.get(kind)
        if row is None:
            continue
        lines.append(f"| {kind} | {row['Request Count']} | {row['Failure Count']} | {float(row['Requests/s']):.1f} | {row['50%']} | {row['99%']} |")
    return "\n".join(lines)


def measure(port: int, args: argparse.Namespace, master: int | None, tmp: Path) -> int:
    """Run the Locust runs against ``port`` and print their tables; return the number of failures."""
    time.sleep(args.settle)  # let the workers settle after start-up
    if args.warmup:
        # The same mix, not recorded: every thread of every worker makes its MeCab tagger, database
        # connection and first allocations, which a server that has run for a while has done.
        warm = run_locust(port, args.users, args.warmup, tmp / "warmup", only_single=False)
        print(f"warm-up: {args.warmup} s of the mix, {warm['Aggregated']['Request Count']} requests not recorded "
              f"(api single p99 {warm.get('api single', {}).get('99%', '?')} ms)")
    before = worker_memory(master) if master else []
    load = os.getloadavg()[0]
    rows = run_locust(port, args.users, args.duration, tmp / "mix", only_single=False)
    after = worker_memory(master) if master else []
    print(f"\n### Mix: {args.users} users, {args.duration} s (1-min load average before: {load:.2f})\n")
    print(table(rows))
    failures = int(rows["Aggregated"]["Failure Count"])
    single = float(rows.get("api single", {}).get("Requests/s", 0))
    if before or after:
        print(f"\nworker memory (VmRSS, MiB): before {', '.join(f'{m:.0f}' for m in before)}; after {', '.join(f'{m:.0f}' for m in after)}")
    if args.single_only:
        only = run_locust(port, args.users, args.single_only, tmp / "single", only_single=True)
        print(f"\n### Single questions only: {args.users} users without think time, {args.single_only} s\n")
        print(table(only))
        failures += int(only["Aggregated"]["Failure Count"])
        single = float(only["api single"]["Requests/s"])
    if args.fast:
        ratio = single / args.fast["per_second"]
        print(f"\nsingle-question HTTP throughput {single:.0f}/s = {ratio:.2f} × the in-process fast path "
              f"({args.fast['per_second']:.0f} calls/s on one thread)")
    return failures


def main(argv: list[str] | None = None) -> None:
    """Run the load test (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models", help="bundle or models directory (default: models)")
    parser.add_argument("--port", type=int, help="load the server already listening on 127.0.0.1:PORT")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of the started server (default: 2)")
    parser.add_argument("--serve-option", action="append", default=[], help="extra `toiawase serve` option (repeatable)")
    parser.add_argument("--users", type=int, default=32, help="Locust users (default: 32)")
    parser.add_argument("--duration", type=int, default=60, help="seconds of the mixed run (default: 60)")
    parser.add_argument("--single-only", type=int, default=0, metavar="SECONDS", help="also a single-questions-only run this long")
    parser.add_argument("--warmup", type=int, default=10, metavar="SECONDS",
                        help="seconds of the mix run first and not recorded (0: measure from a cold server; default: 10)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait after /healthz answers before loading (default: 5)")
    parser.add_argument("--fast-path-calls", type=int, default=3000, help="in-process calls measured (0: skip; default: 3000)")
    args = parser.parse_args(argv)
    args.fast = None
    if args.fast_path_calls:
        args.fast = fast_path(args.model, args.fast_path_calls)
        print(f"in-process fast path: {args.fast['per_second']:.0f} single-question calls/s on one thread, "
              f"p50 {args.fast['p50']:.2f} ms, p99 {args.fast['p99']:.2f} ms")
    with tempfile.TemporaryDirectory(prefix="toiawase-load-") as tmp:
        if args.port:
            failures = measure(args.port, args, None, Path(tmp))
        else:
            port = free_port()
            log = Path(tmp) / "server.log"
            process = start_server(args.model, port, args.workers, log, extra=args.serve_option)
            try:
                try:
                    wait_until_healthy(port, process, log, 60)
                except ServerStartError as exc:
                    sys.exit(f"error: {exc}")
                failures = measure(port, args, process.pid, Path(tmp))
            finally:
                stop_server(process)
    if failures:
        sys.exit(f"error: {failures} failed request(s)")


if __name__ == "__main__":
    main()
