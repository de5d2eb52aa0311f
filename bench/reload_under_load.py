"""Live reload under load: 32 clients for 30 s while ``current`` is flipped several times, once to a broken bundle.

Usage (``make reload-bench``)::

    .venv/bin/python bench/reload_under_load.py --model models
    .venv/bin/python bench/reload_under_load.py --model models --clients 32 --duration 30 --flips 5

Copies the models directory ``--model`` into a temporary one, adds ``--flips`` good versions
(copies of the current bundle under new version names: ``reload-1``...) and one broken version
(``reload-broken``: an empty ``weights.npz``, the case of issue 12), and starts ``toiawase serve``
on it (2 workers). ``--clients`` threads then send single-question ``POST /api/v1/predict``
requests back to back on keep-alive connections for ``--duration`` seconds, and a 10-question
batch every tenth request, while ``current`` is flipped at even intervals: to each good version
in turn, the broken one in the middle. Every answer's status and ``model_version`` are recorded
with its time.

Prints: requests, failed requests (any status other than 200, or a connection error: the goal
is 0), and per flip the version(s) served before and after it, and how long after the flip the
last answer from the previous version came (the workers look at ``current`` every 2 s). For the
broken version: the answers keep coming from the previous version, and ``/healthz`` says
``degraded``. Exits 1 if a request failed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.bundles import broken_bundle, copy_bundle, point_current  # noqa: E402
from tests.server import HOST, ServerStartError, free_port, get_json, start_server, stop_server, wait_until_healthy  # noqa: E402

QUESTIONS = ["注文した商品がまだ届きません。", "パスワードを忘れてしまいました", "返金はいつ頃ですか", "領収書の発行をお願いします"]


def client(port: int, stop: threading.Event, records: list, index: int) -> None:
    """Send requests until ``stop``; append ``(time, status, version or error)`` per answer."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    n = 0
    while not stop.is_set():
        n += 1
        batch = n % 10 == 0
        body = {"questions": QUESTIONS * 3} if batch else {"question": QUESTIONS[(index + n) % len(QUESTIONS)]}
        try:
            connection.request("POST", "/api/v1/predict", body=json.dumps(body, ensure_ascii=False).encode(), headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
            version = json.loads(data).get("model_version") if response.status == 200 else data[:200].decode(errors="replace")
            records.append((time.monotonic(), response.status, version))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            records.append((time.monotonic(), None, f"{type(exc).__name__}: {exc}"))
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.close()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models", help="models directory with a current bundle (default: models)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (default: 30)")
    parser.add_argument("--flips", type=int, default=5, help="good versions flipped to (default: 5); one broken flip is added")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="toiawase-reload-") as tmp:
        models = Path(tmp) / "models"
        shutil.copytree(Path(args.model), models, symlinks=True)
        original = (models / "current").readlink().name
        good = [copy_bundle(models, f"reload-{i + 1}").name for i in range(args.flips)]
        broken_bundle(models, "reload-broken")
        plan = good[: len(good) // 2] + ["reload-broken"] + good[len(good) // 2:]
        port = free_port()
        log = Path(tmp) / "server.log"
        process = start_server(models, port, args.workers, log)
        try:
            try:
                wait_until_healthy(port, process, log, 90)
            except ServerStartError as exc:
                sys.exit(f"error: {exc}")
            time.sleep(2)  # the workers' threads start their MeCab taggers
            records: list = []
            stop = threading.Event()
            threads = [threading.Thread(target=client, args=(port, stop, records, i), daemon=True) for i in range(args.clients)]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            flips: list[tuple[float, str]] = []
            health_after_broken = None
            step = args.duration / (len(plan) + 1)
            for i, version in enumerate(plan):
                time.sleep(max(0.0, began + step * (i + 1) - time.monotonic()))
                point_current(models, version)
                flips.append((time.monotonic(), version))
                if version == "reload-broken":
                    time.sleep(min(step * 0.8, 3.0))
                    health_after_broken = get_json(port, "/healthz", timeout=10)
            time.sleep(max(0.0, began + args.duration - time.monotonic()))
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            stop_server(process)
        refused = log.read_text(errors="replace").count("refused the new bundle")

    failed = [r for r in records if r[1] != 200]
    print(f"{len(records)} requests from {args.clients} clients in {args.duration:.0f} s, {args.workers} workers; "
          f"failed: {len(failed)}" + (f" (first: {failed[0][1]} {failed[0][2]})" if failed else ""))
    print("\n| flip at s | to | served in the window before | served in the window after | last answer of the previous version, s after the flip |")
    print("|---:|---|---|---|---:|")
    edges = [began] + [t for t, _ in flips] + [began + args.duration + 1]
    previous = original
    for i, (moment, version) in enumerate(flips):
        before = Counter(r[2] for r in records if edges[i] <= r[0] < moment and r[1] == 200)
        after = Counter(r[2] for r in records if moment <= r[0] < edges[i + 2] and r[1] == 200)
        lag = max((r[0] - moment for r in records if r[0] >= moment and r[2] == previous and r[0] < edges[i + 2]), default=0.0)
        shown = "— (refused: the previous version keeps serving)" if version == "reload-broken" else f"{lag:.2f}"
        print(f"| {moment - began:.1f} | {version} | {dict(before.most_common())} | {dict(after.most_common())} | {shown} |")
        if version != "reload-broken":
            previous = version
    if health_after_broken:
        print(f"\n/healthz after the broken flip: {health_after_broken[0]} {json.dumps(health_after_broken[1], ensure_ascii=False)}")
    print(f"'refused the new bundle' lines in the server log: {refused} (one per worker)")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
