"""A 100,000-row file through the files page of the real server: time and peak memory.

    python bench/upload_large.py MODEL [--data ../shared/data/mlit_defects] [--rows 100000] [--encoding utf-8]

Builds a CSV (``番号,お問い合わせ内容`` header) of ``--rows`` questions cycled from the data
directory's ``train.tsv`` and ``dev.tsv`` question column, in a temporary directory (never in the
repository), starts ``toiawase serve --model MODEL --workers 1`` on a free port
(``tests/server.py``), and as a browser would: GET /files (CSRF token and cookie), POST the
upload, GET the column page, POST the column (routing), GET the results page, download
``results.csv`` and ``results.xlsx``. Prints each step's seconds, the file size, and the peak
resident memory (RSS) of the gunicorn worker, sampled every 50 ms with psutil.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server import HOST, free_port, start_server, stop_server, wait_until_healthy  # noqa: E402

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def questions(data: Path) -> list[str]:
    """The question column of ``train.tsv`` and ``dev.tsv`` (header ``id, question, category``)."""
    found = []
    for name in ("train.tsv", "dev.tsv"):
        with open(data / name, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            found += [row["question"] for row in reader if row.get("question")]
    return found


class PeakRSS(threading.Thread):
    """Samples the RSS of a process's children (the gunicorn workers) every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.parent, self.interval, self.peak, self.stop = psutil.Process(pid), interval, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                for child in self.parent.children(recursive=True):
                    self.peak = max(self.peak, child.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(self.interval)

    def worker_rss(self) -> int:
        return max((c.memory_info().rss for c in self.parent.children(recursive=True)), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mlit_defects"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--encoding", default="utf-8", help="of the uploaded CSV (utf-8 or cp932)")
    args = parser.parse_args()

    pool = questions(Path(args.data))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        upload = tmp / "inquiries.csv"
        with open(upload, "w", encoding=args.encoding, errors="replace", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["番号", "お問い合わせ内容"])
            for i in range(args.rows):
                writer.writerow([i + 1, pool[i % len(pool)]])
        size = upload.stat().st_size
        print(f"file: {args.rows:,} rows, {size / 1e6:.1f} MB ({args.encoding}), questions from {args.data}")

        port = free_port()
        log = tmp / "server.log"
        process = start_server(args.model, port, 1, log, db=f"sqlite:///{tmp / 'fb.sqlite3'}",
                               env={**__import__('os').environ, "TMPDIR": str(tmp)})
        try:
            wait_until_healthy(port, process, log)
            sampler = PeakRSS(process.pid)
            idle = sampler.worker_rss()
            sampler.start()
            base = f"http://{HOST}:{port}"
            session = requests.Session()
            token = TOKEN.search(session.get(base + "/files").text).group(1)
            began = time.perf_counter()
            with open(upload, "rb") as handle:
                answer = session.post(base + "/files", data={"csrf_token": token}, files={"file": (upload.name, handle, "text/csv")})
            uploaded = time.perf_counter()
            answer.raise_for_status()
            job = answer.url
            token = TOKEN.search(answer.text).group(1)
            column = re.search(r'<option selected value="([^"]*)"', answer.text).group(1)
            routed = session.post(job, data={"csrf_token": token, "column": column}, timeout=600)
            done = time.perf_counter()
            routed.raise_for_status()
            assert f"{args.rows:,} 行を振り分けました" in routed.text, routed.text[:2000]
            csv_answer = session.get(job + "/results.csv")
            csv_done = time.perf_counter()
            xlsx_answer = session.get(job + "/results.xlsx", timeout=600)
            xlsx_done = time.perf_counter()
            sampler.stop.set()
            sampler.join()
            lines = csv_answer.content.count(b"\r\n") - 1
            print(f"upload + header check: {uploaded - began:.1f} s (column preselected: {column})")
            print(f"routing {args.rows:,} rows + results page: {done - uploaded:.1f} s ({args.rows / (done - uploaded):,.0f} rows/s)")
            print(f"download results.csv: {csv_done - done:.1f} s, {len(csv_answer.content) / 1e6:.1f} MB, {lines:,} data lines")
            print(f"download results.xlsx (made on first download): {xlsx_done - csv_done:.1f} s, {len(xlsx_answer.content) / 1e6:.1f} MB")
            print(f"worker RSS: {idle / 2**20:.0f} MiB idle, peak {sampler.peak / 2**20:.0f} MiB")
        finally:
            stop_server(process)


if __name__ == "__main__":
    main()
