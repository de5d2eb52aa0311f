"""Feedback through the real server under load, and the cost of the prediction log.

Usage::

    .venv/bin/python bench/feedback_load.py --model models
    .venv/bin/python bench/feedback_load.py --model models --clients 32 --seconds 30 --db postgresql+psycopg://...

1. Starts ``toiawase serve`` (gunicorn, ``--workers`` workers) on a free port of 127.0.0.1 with a
   feedback database (``--db``; default: a new SQLite file in a temporary directory), and routes
   ``--predictions`` questions through ``POST /api/v1/predict`` to get prediction ids.
2. ``--clients`` threads, each with one keep-alive connection (``http.client``), post
   ``POST /api/v1/feedback`` for ``--seconds`` seconds: confirmations and corrections with a key of
   their own, and every ``--repeat-every``-th request the previous key again (a retried request,
   which must answer 200 and store nothing). Counts the 201s (acknowledged), the 200s, every other
   answer or exception (errors), and the latency of each request (client wall time, ms).
3. Reads the database afterwards: rows stored must equal requests acknowledged.
4. Times ``POST /api/v1/predict`` with 1,000 questions (``--batch-runs`` runs, after one warm-up)
   on that server, then on a server whose database cannot be reached (nothing listens on port 1
   of 127.0.0.1: the app routes without logging), so the difference is the prediction log; and,
   in this process, the two steps of such a request apart: routing the 1,000 questions, and
   logging them (masking + one transaction), on the same kind of database.

Prints a Markdown table, optionally writes JSON, and always stops the servers. Only ever talks to
127.0.0.1. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "loadtest"))

from feedback import FeedbackStore  # noqa: E402
from questions import QUESTIONS as LOAD_TEST_QUESTIONS  # noqa: E402  bench/loadtest/questions.py
from tests.server import HOST, free_port, start_server, stop_server, wait_until_healthy  # noqa: E402

#: The first eight questions of the load test, each request's question cycled through them.
QUESTIONS = LOAD_TEST_QUESTIONS[:8]
#: A database nobody can open: the server then routes without logging.
UNREACHABLE_DB = "postgresql+psycopg://bench@127.0.0.1:1/none"


@dataclass
class LoadResult:
    """What the feedback load measured (latencies in ms, client side)."""

    clients: int
    seconds: float
    acknowledged: int = 0
    repeats_answered_200: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    rows_stored: int = 0
    requests_per_second: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0


def post_json(connection: http.client.HTTPConnection, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    """POST a JSON body on a keep-alive connection; (status, decoded answer)."""
    data = json.dumps(body, ensure_ascii=False).encode()
    connection.request("POST", path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def percentile(ordered: list[float], q: float) -> float:
    """The ``q``-quantile of sorted values (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def route(port: int, count: int, categories: list[str]) -> list[tuple[str, str]]:
    """Route ``count`` questions; return (prediction id, category to send) pairs, half confirmations, half corrections."""
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    status, body = post_json(connection, "/api/v1/predict", {"questions": [f"{QUESTIONS[i % len(QUESTIONS)]}（{i}）" for i in range(count)]})
    connection.close()
    if status != 200:
        raise SystemExit(f"predict answered {status}: {body}")
    pairs = []
    for i, prediction in enumerate(body["predictions"]):
        if prediction["id"] is None:
            raise SystemExit("the server logged no prediction: is its database writable?")
        other = next(c for c in categories if c != prediction["category"])
        pairs.append((prediction["id"], prediction["category"] if i % 2 == 0 else other))
    return pairs


def load(port: int, targets: list[tuple[str, str]], clients: int, seconds: float, repeat_every: int) -> tuple[LoadResult, list[float]]:
    """``clients`` threads posting feedback for ``seconds`` seconds (see the module docstring)."""
    result = LoadResult(clients=clients, seconds=seconds)
    lock = threading.Lock()
    latencies: list[float] = []
    barrier = threading.Barrier(clients)
    deadline_box: list[float] = []

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        mine, acked, repeats, errors, samples = [], 0, 0, 0, []
        previous: dict | None = None
        barrier.wait()
        if number == 0:
            deadline_box.append(time.monotonic() + seconds)
        while not deadline_box:
            time.sleep(0.001)
        i = 0
        while time.monotonic() < deadline_box[0]:
            repeat = previous is not None and i % repeat_every == repeat_every - 1
            if repeat:
                body = previous
            else:
                prediction_id, category = targets[(number * 7919 + i) % len(targets)]
                body = {"prediction_id": prediction_id, "action": "confirm" if (number * 7919 + i) % len(targets) % 2 == 0 else "correct",
                        "category": category, "idempotency_key": f"bench-{number}-{i}", "agent": f"agent{number}"}
            began = time.perf_counter()
            try:
                status, answer = post_json(connection, "/api/v1/feedback", body)
            except (OSError, http.client.HTTPException, ValueError) as error:
                errors += 1
                samples.append(f"{type(error).__name__}: {error}")
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=30)
                i += 1
                continue
            mine.append((time.perf_counter() - began) * 1000)
            if status == 201 and not repeat:
                acked += 1
                previous = body
            elif status == 200 and repeat:
                repeats += 1
            else:
                errors += 1
                samples.append(f"{status}: {json.dumps(answer, ensure_ascii=False)[:200]}")
            i += 1
        connection.close()
        with lock:
            result.acknowledged += acked
            result.repeats_answered_200 += repeats
            result.errors += errors
            result.error_samples.extend(samples[: max(0, 10 - len(result.error_samples))])
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    ordered = sorted(latencies)
    result.requests_per_second = round(len(ordered) / elapsed, 1) if elapsed else 0.0
    if ordered:
        result.p50_ms = round(statistics.median(ordered), 2)
        result.p99_ms = round(percentile(ordered, 0.99), 2)
        result.max_ms = round(ordered[-1], 2)
    return result, ordered


def time_batches(port: int, runs: int) -> list[float]:
    """Milliseconds of ``runs`` 1,000-question ``POST /api/v1/predict`` (after one warm-up)."""
    questions = [f"{QUESTIONS[i % len(QUESTIONS)]} 注文番号 AB-{10000000 + i}" for i in range(1000)]
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    times = []
    for run in range(runs + 1):
        began = time.perf_counter()
        status, body = post_json(connection, "/api/v1/predict", {"questions": questions})
        if status != 200 or len(body["predictions"]) != 1000:
            raise SystemExit(f"predict answered {status}")
        if run:
            times.append((time.perf_counter() - began) * 1000)
    connection.close()
    return times


def time_steps_in_process(model: str, db: str, runs: int) -> dict[str, float]:
    """Median ms of routing 1,000 questions and of logging them (``webapp.feedback_store.log_predictions``)."""
    from webapp import create_app
    from webapp.feedback_store import close_store, log_predictions
    from webapp.questions import route as route_questions

    app = create_app({"MODEL_PATH": model, "DB_URL": db, "SECRET_KEY": "bench"})
    questions = [f"{QUESTIONS[i % len(QUESTIONS)]} 注文番号 AB-{10000000 + i}" for i in range(1000)]
    routing, logging = [], []
    with app.test_request_context():
        predictor = app.extensions["toiawase"].predictor
        for run in range(runs + 1):
            began = time.perf_counter()
            predictions = route_questions(predictor, questions, 3)
            routed = time.perf_counter()
            ids = log_predictions(predictor, questions, predictions, source="api")
            done = time.perf_counter()
            assert all(ids), "not logged"
            if run:
                routing.append((routed - began) * 1000)
                logging.append((done - routed) * 1000)
    close_store(app)
    return {"route_ms_median": round(statistics.median(routing), 1), "log_ms_median": round(statistics.median(logging), 1),
            "log_ms_min": round(min(logging), 1)}


def serve(model: str, workers: int, db: str, log: Path):
    """Start a server and wait for it; (process, port, /healthz body)."""
    port = free_port()
    process = start_server(model, port, workers, log, db=db)
    try:
        health = wait_until_healthy(port, process, log, 90)
    except BaseException:
        stop_server(process)
        raise
    return process, port, health


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring); exit status 1 if rows stored differ from requests acknowledged."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="models or bundle directory")
    parser.add_argument("--db", help="feedback database URL (default: a new SQLite file in a temporary directory)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--predictions", type=int, default=1000, help="predictions the feedback is about")
    parser.add_argument("--repeat-every", type=int, default=10, help="every n-th request re-sends the previous key")
    parser.add_argument("--batch-runs", type=int, default=10, help="timed 1,000-question requests per server")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="toiawase-feedback-bench-") as tmp:
        db = args.db or f"sqlite:///{tmp}/feedback.sqlite3"
        with FeedbackStore.open(db) as store:
            rows_before = store.count_feedback()
        process, port, health = serve(args.model, args.workers, db, Path(tmp) / "server.log")
        try:
            if health.get("feedback_store") != "ok":
                raise SystemExit(f"the server cannot open {db}: {health}")
            status_categories = http.client.HTTPConnection(HOST, port, timeout=30)
            status_categories.request("GET", "/api/v1/model")
            categories = json.loads(status_categories.getresponse().read())["categories"]
            status_categories.close()
            targets = route(port, args.predictions, categories)
            result, _ = load(port, targets, args.clients, args.seconds, args.repeat_every)
            with_log = time_batches(port, args.batch_runs)
        finally:
            stop_server(process)
        with FeedbackStore.open(db) as store:
            result.rows_stored = store.count_feedback() - rows_before
            problems = store.integrity_check()
        process, port, health = serve(args.model, args.workers, UNREACHABLE_DB, Path(tmp) / "server-nolog.log")
        try:
            assert health.get("feedback_store") == "unavailable", health
            without_log = time_batches(port, args.batch_runs)
        finally:
            stop_server(process)
        steps = time_steps_in_process(args.model, db, args.batch_runs)

    batch = {
        "with_log_ms_median": round(statistics.median(with_log), 1), "with_log_ms_min": round(min(with_log), 1),
        "without_log_ms_median": round(statistics.median(without_log), 1), "without_log_ms_min": round(min(without_log), 1),
    }
    print(f"feedback load: {args.clients} clients for {args.seconds:.0f} s against `toiawase serve --workers {args.workers}` ({db.split(':')[0]})\n")
    print("| acknowledged (201) | rows stored | repeats answered 200 | errors | requests/s | p50 ms | p99 ms | max ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {result.acknowledged:,} | {result.rows_stored:,} | {result.repeats_answered_200:,} | {result.errors} | "
          f"{result.requests_per_second:,.1f} | {result.p50_ms} | {result.p99_ms} | {result.max_ms} |")
    if result.error_samples:
        print("\nerrors, first ones:\n" + "\n".join(f"  {e}" for e in result.error_samples))
    print(f"\nintegrity check: {problems or 'ok'}")
    print(f"\n1,000-question POST /api/v1/predict, {args.batch_runs} runs each (ms): "
          f"with the log median {batch['with_log_ms_median']} (min {batch['with_log_ms_min']}), "
          f"without median {batch['without_log_ms_median']} (min {batch['without_log_ms_min']})")
    print(f"in process, {args.batch_runs} runs (ms): routing 1,000 questions median {steps['route_ms_median']}, "
          f"logging them median {steps['log_ms_median']} (min {steps['log_ms_min']})")
    if args.json_out:
        args.json_out.write_text(json.dumps({"load": asdict(result), "batch_1000": batch, "steps_1000": steps, "integrity": problems},
                                            ensure_ascii=False, indent=2) + "\n")
    return 0 if result.rows_stored == result.acknowledged and not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
