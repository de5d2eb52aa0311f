"""Wall time of one nightly ``toiawase retrain`` on real data with 1,000 feedback rows.

Usage::

    .venv/bin/python bench/retrain_feedback.py --data-root ../shared/data [--work /tmp/retrain-bench] [--feedback 1000]
        [-- EXTRA RETRAIN OPTIONS, e.g. --keep-eval-questions]

On jmultiwoz_routing: ``train.tsv`` is the base file; ``--feedback`` dev questions (a seeded
sample) are the agents' feedback and the other dev questions the frozen evaluation file
(``WORK/eval.tsv``). The two must not overlap: ``toiawase retrain`` never trains on a question of
``--eval``, so feedback drawn from the evaluation file itself would be left out of training
("in the evaluation file" in the report) and the run would time a retrain without feedback.

1. The champion: ``toiawase train --data train.tsv --out WORK/models --quiet`` (the default
   model kind of the day), unless ``WORK/models/current`` exists (a rerun reuses it; pass a new
   ``--work`` for a clean run).
2. The feedback store (``WORK/models/feedback.sqlite3``, filled only when empty): ``--feedback``
   dev questions (a seeded sample), masked (``preprocessing.cleaning.clean``) as the web app
   stores them, each routed by the champion and logged, then *confirmed* by an agent when the
   champion was right and *corrected* to the dev category when it was wrong (so the corrections
   are the champion's real mistakes), one every 43 minutes over the 30 days before now.
3. The measured command: ``toiawase retrain --models WORK/models --data train.tsv --eval WORK/eval.tsv``
   in a new process (what cron runs), wall time from start to exit, its peak resident memory,
   its one stdout line and exit status.

Prints a Markdown summary (and the report's headline numbers). Not a test: the time depends on
the machine (BENCHMARKS.md's figures come from a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOIAWASE = Path(sys.executable).parent / "toiawase"


def run(command: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``command``; return (the process, wall seconds, its peak resident memory in MB, from ``wait4``)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, "PYTHONPATH": str(ROOT)})
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(command, child.returncode, out.read(), err.read()), seconds, usage.ru_maxrss / 1024  # KiB on Linux


def split_dev(dev: Path, count: int, seed: int) -> tuple[list, list]:
    """(feedback, evaluation): ``count`` dev tickets chosen with ``random.Random(seed)``, and the
    dev tickets whose normalized question is none of theirs (dev order kept)."""
    from preprocessing.datasets import load_tickets
    from preprocessing.pipeline import PreprocessSettings, clean_text

    tickets = load_tickets(str(dev)).tickets
    chosen = random.Random(seed).sample(tickets, min(count, len(tickets)))
    settings = PreprocessSettings()
    taken = {clean_text(t.question, settings) for t in chosen}
    return chosen, [t for t in tickets if clean_text(t.question, settings) not in taken]


def write_eval(tickets: list, path: Path) -> None:
    """``tickets`` as an ``id, question, answer, category`` TSV with that header (tabs and newlines in a field become spaces)."""
    one_line = lambda text: " ".join(str(text).split())  # noqa: E731
    path.write_text("id\tquestion\tanswer\tcategory\n" + "".join(f"{one_line(t.id)}\t{one_line(t.question)}\t\t{one_line(t.category)}\n" for t in tickets), encoding="utf-8")


def fill_store(models: Path, chosen: list) -> dict:
    """Log the ``chosen`` dev tickets' questions routed by the champion and the agents' verdicts; return counts."""
    from feedback import FeedbackStore, default_url
    from preprocessing.cleaning import clean
    from routing.predictor import load_predictor

    champion = load_predictor(models)
    questions = [clean(t.question) for t in chosen]
    routed = champion.predict(questions)
    end = datetime.now(timezone.utc) - timedelta(hours=1)
    step = timedelta(days=30) / len(chosen)
    counts = {"confirm": 0, "correct": 0, "no content": 0}
    with FeedbackStore.open(default_url(models)) as store:
        if store.count_feedback():
            return {"reused": store.count_feedback()}
        for i, (ticket, question, prediction) in enumerate(zip(chosen, questions, routed)):
            when = end - (len(chosen) - i) * step
            if prediction.category is None:
                counts["no content"] += 1
                continue
            pid = store.log_prediction(question=question, model_version=champion.version, category=prediction.category,
                                       probability=prediction.probability, top_k=prediction.top_k, needs_review=prediction.needs_review,
                                       reason=prediction.reason, source="bench", created_at=when)
            action = "confirm" if prediction.category == ticket.category else "correct"
            store.record_feedback(idempotency_key=f"bench-{i}", action=action, agent_category=ticket.category, prediction_id=pid,
                                  agent="bench", created_at=when + timedelta(minutes=3))
            counts[action] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--data-set", default="jmultiwoz_routing")
    parser.add_argument("--work", default="/tmp/toiawase-retrain-bench")
    parser.add_argument("--feedback", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("extra", nargs="*", help="More options for toiawase retrain (after --).")
    args = parser.parse_args()
    data = Path(args.data_root) / args.data_set
    train, dev = data / "train.tsv", data / "dev.tsv"
    models = Path(args.work) / "models"
    lines = [f"# toiawase retrain on {args.data_set} ({os.cpu_count()} cores, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)", ""]

    if not (models / "current").exists():
        command = [str(TOIAWASE), "train", "--data", str(train), "--out", str(models), "--quiet"]
        done, seconds, _ = run(command)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        lines.append(f"champion: `{' '.join(command)}` in {seconds:.0f} s")
    chosen, evaluation = split_dev(dev, args.feedback, args.seed)
    eval_file = Path(args.work) / "eval.tsv"
    write_eval(evaluation, eval_file)
    counts = fill_store(models, chosen)
    lines.append(f"feedback: {json.dumps(counts)}; evaluation file: {len(evaluation)} dev questions not in the feedback")

    command = [str(TOIAWASE), "retrain", "--models", str(models), "--data", str(train), "--eval", str(eval_file), *args.extra]
    done, seconds, peak = run(command)
    lines += ["", f"command: `{' '.join(command)}`", "",
              f"* wall time: {seconds:.1f} s (peak resident memory {peak:.0f} MB)",
              f"* exit status: {done.returncode}", f"* stdout: `{done.stdout.strip()}`",
              f"* stderr: {len(done.stderr.splitlines())} line(s)" + (f", last: `{done.stderr.strip().splitlines()[-1]}`" if done.stderr.strip() else "")]
    latest = models / "reports" / "latest.json"
    if latest.is_file():
        report = json.loads(latest.read_text(encoding="utf-8"))
        lines.append(f"* report: training {report['training_seconds']} s of {report['seconds']} s in-process; "
                     f"training rows {report['data']['merge']['rows']}; left out {json.dumps(report['data']['merge']['left_out'], ensure_ascii=False)}")
        for evaluation in report["evaluations"]:
            for side in ("champion", "challenger"):
                summary = evaluation[side]
                if summary:
                    lines.append(f"  * {evaluation['name']} ({evaluation['questions']}), {side}: accuracy {summary['accuracy']:.4f}, "
                                 f"macro-F1 {summary['macro_f1']:.4f}, ECE {summary['ece']:.4f}, coverage {summary['coverage']:.4f}, "
                                 f"overlap {summary['overlap']}")
        lines.append(f"* gate: {report['gate']['reason']}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
