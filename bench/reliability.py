"""``make reliability``: one table of what the service survives, measured now.

Usage::

    .venv/bin/python bench/reliability.py --model models                 # the whole table
    .venv/bin/python bench/reliability.py --model models --duration 20 --users 32 --fuzz-examples 40

Steps:

1. **Faults and bad inputs**: one ``pytest`` run of the fault tests (a broken bundle at start-up
   and at reload, in-process and on the real gunicorn server with ``kill -HUP``; ``kill -9`` of
   ``toiawase train``, of ``toiawase models promote``, of a ``set_current`` loop and of feedback
   writes on SQLite and PostgreSQL) and of the Schemathesis fuzzing of the OpenAPI description
   (``tests/webapp/test_openapi.py``, ``--fuzz-examples`` Hypothesis examples per operation and
   generation mode). The tests' JUnit XML gives the outcome of each; the fuzzing writes its case
   counts to a JSON file (``TOIAWASE_FUZZ_REPORT``); the feedback crash test prints how many rows
   were acknowledged before the kills (all must be present: data lost is the missing ones).
2. **Load**: ``toiawase serve`` (2 workers) on ``--model``, then the Locust mix of
   ``bench/loadtest`` (form GET/POST, single and 100-question API calls, /model, /healthz) with
   ``--users`` users for ``--duration`` seconds, after ``--warmup`` seconds not recorded: requests, errors, p50/p99 per kind (Locust's
   percentiles, rounded as ``bench/loadtest/run.py`` says).
3. Prints one Markdown table; exits 1 if any fault test failed, any request failed, any fuzzed
   answer was a 5xx or any acknowledged row is missing.

Needs the ``bench`` extra (Locust), the ``test`` extra (Schemathesis) and PostgreSQL binaries
(``scripts/install-system-deps.sh --postgres``), as ``make test`` does.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE / "loadtest"))

from run import KINDS, run_locust  # noqa: E402 - bench/loadtest/run.py
from tests.server import ServerStartError, free_port, start_server, stop_server, wait_until_healthy  # noqa: E402

#: Rows of "faults survived": (what, pytest node ids, or prefixes of them).
FAULTS = [
    ("bad bundle at start (serve exits 2 naming the file)", ["tests/webapp/test_server.py::test_serve_refuses_a_broken_bundle_before_forking"]),
    ("bad bundle at reload (in-process, 4 kinds of damage)", ["tests/webapp/test_reload.py::test_a_broken_bundle_is_refused_and_the_old_one_keeps_serving"]),
    ("bad bundle at reload and kill -HUP (gunicorn)", ["tests/webapp/test_server.py::test_live_reload_and_hup_on_the_real_server"]),
    ("kill -9 during toiawase train", ["tests/routing/test_crash_safety.py::test_kill_9_of_train_at_random_points_keeps_current_loadable_and_leftovers_are_removed",
                                       "tests/routing/test_crash_safety.py::test_a_killed_writer_leaves_a_directory_that_the_next_writer_removes"]),
    ("kill -9 during toiawase models promote", ["tests/routing/test_crash_safety.py::test_kill_9_during_toiawase_models_promote_leaves_current_and_previous_loadable",
                                                "tests/routing/test_crash_safety.py::test_kill_9_during_a_set_current_loop_leaves_a_valid_link"]),
    ("kill -9 during feedback writes (SQLite, PostgreSQL)", ["tests/feedback/test_crash_safety.py::test_kill_9_during_feedback_writes_loses_no_acknowledged_row_and_the_store_stays_sound"]),
]
FUZZ = "tests/webapp/test_openapi.py"
ACKNOWLEDGED = re.compile(r"^(\d+) acknowledged rows, all present", re.MULTILINE)


def run_tests(tmp: Path, fuzz_examples: int) -> tuple[dict[str, str], dict, list[int], str]:
    """Run the fault tests and the fuzzing; return (outcome by node id, fuzz report, acknowledged rows per run, output)."""
    junit, fuzz_report = tmp / "junit.xml", tmp / "fuzz.json"
    targets = sorted({node.split("[")[0] for _, nodes in FAULTS for node in nodes}) + [FUZZ]
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOIAWASE_FUZZ_REPORT=str(fuzz_report), TOIAWASE_FUZZ_EXAMPLES=str(fuzz_examples))
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", f"--junitxml={junit}", *targets]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    outcomes = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            module = case.get("classname", "").replace(".", "/") + ".py"
            status = "passed"
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    status = child.tag
            outcomes[f"{module}::{case.get('name')}"] = status
    report = json.loads(fuzz_report.read_text()) if fuzz_report.exists() else {"cases": 0, "server_errors": None, "operations": {}}
    acknowledged = [int(n) for n in ACKNOWLEDGED.findall(done.stdout)]
    return outcomes, report, acknowledged, done.stdout[-3000:] + done.stderr[-3000:]


def fault_rows(outcomes: dict[str, str]) -> tuple[list[str], int]:
    """Table rows of the faults; and the number of fault tests that did not pass."""
    rows, bad = [], 0
    for label, nodes in FAULTS:
        ran = {node: status for node, status in outcomes.items() if any(node == n or node.startswith(n + "[") for n in nodes)}
        passed = sum(status == "passed" for status in ran.values())
        bad += len(ran) - passed + (0 if ran else 1)
        verdict = "survived" if ran and passed == len(ran) else "FAILED"
        rows.append(f"| faults survived | {label} | {verdict}: {passed}/{len(ran)} tests passed |")
    return rows, bad


def load(model: str, users: int, duration: int, tmp: Path, warmup: int = 10) -> dict[str, dict[str, str]]:
    """Serve ``model`` with 2 workers and run the Locust mix (after ``warmup`` seconds of it not
    recorded, as ``bench/loadtest/run.py --warmup``); Locust's rows by kind. When a request
    failed, Locust's failures and the server log's lines from each of its first 3 errors on are
    printed to stderr (the temporary directory holding them is removed with the run)."""
    port = free_port()
    log = tmp / "server.log"
    process = start_server(model, port, 2, log)
    try:
        try:
            wait_until_healthy(port, process, log, 120)
        except ServerStartError as exc:
            sys.exit(f"error: {exc}")
        time.sleep(3)
        if warmup:
            run_locust(port, users, warmup, tmp / "warmup", only_single=False)
        rows = run_locust(port, users, duration, tmp / "mix", only_single=False)
    finally:
        stop_server(process)
    if int(rows.get("Aggregated", {}).get("Failure Count", 0)):
        # The temporary directory goes with the run: say now what failed and what the server logged.
        failed = Path(f"{tmp / 'mix'}_failures.csv")
        print(f"Locust's failures:\n{failed.read_text() if failed.exists() else '(no failures file)'}", file=sys.stderr)
        logged = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
        starts: list[int] = []
        for i, line in enumerate(logged):
            if ("[ERROR]" in line or '" 5' in line) and (not starts or i >= starts[-1] + 30) and len(starts) < 3:
                starts.append(i)
        print("server log from its errors on:\n" + "\n...\n".join("\n".join(logged[i : i + 30]) for i in starts), file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run everything and print the table (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models", help="models directory served for the load (default: models)")
    parser.add_argument("--users", type=int, default=32, help="Locust users (default: 32)")
    parser.add_argument("--duration", type=int, default=20, help="seconds of the Locust mix (default: 20)")
    parser.add_argument("--warmup", type=int, default=10, help="seconds of the mix run first, not recorded (default: 10)")
    parser.add_argument("--fuzz-examples", type=int, default=40, help="Hypothesis examples per operation and mode (default: 40)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="toiawase-reliability-") as tmp:
        outcomes, fuzz, acknowledged, output = run_tests(Path(tmp), args.fuzz_examples)
        rows = load(args.model, args.users, args.duration, Path(tmp), args.warmup)
    lines = [f"`make reliability` on {datetime.date.today().isoformat()}, {os.cpu_count()} cores, {time.monotonic() - began:.0f} s in all\n",
             "| | what | result |", "|---|---|---|"]
    failures = 0
    for kind in KINDS:
        row = rows.get(kind)
        if row is not None:
            failures += int(row["Failure Count"]) if kind == "Aggregated" else 0
            lines.append(f"| load held ({args.users} users, {args.duration} s, 2 workers) | {kind} | {row['Request Count']} requests, "
                         f"{row['Failure Count']} errors, p50 {row['50%']} ms, p99 {row['99%']} ms |")
    faults, bad_faults = fault_rows(outcomes)
    lines += faults
    statuses = {}
    for counts in fuzz["operations"].values():
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    lines.append(f"| bad inputs tried | Schemathesis on /api/v1/openapi.json ({len(fuzz['operations'])} operations, positive and negative) | "
                 f"{fuzz['cases']} cases, {fuzz['server_errors']} 5xx; statuses {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))} |")
    fuzz_ok = outcomes and all(status == "passed" for node, status in outcomes.items() if node.startswith(FUZZ))
    lines.append(f"| bad inputs tried | every answer conforms to the description | {'yes' if fuzz_ok else 'NO'} |")
    feedback_ok = all(status == "passed" for node, status in outcomes.items() if node.startswith("tests/feedback/test_crash_safety.py")) and acknowledged
    lost = 0 if feedback_ok else "unknown (test failed)"
    lines.append(f"| data lost | acknowledged feedback rows missing after kill -9 ({' + '.join(map(str, acknowledged)) or 0} acknowledged) | {lost} |")
    print("\n".join(lines))
    if bad_faults or failures or fuzz["server_errors"] or not fuzz_ok or not feedback_ok:
        print(f"\n{output}", file=sys.stderr)
        sys.exit("error: something did not hold (see the table and the test output above)")


if __name__ == "__main__":
    main()
