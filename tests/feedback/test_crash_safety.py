"""Crash safety of feedback writes (issue 12 §4): ``kill -9`` of a process writing through the store.

A real process logs predictions and records feedback through :class:`feedback.FeedbackStore` in a
loop, printing each row's key only after ``record_feedback`` returned (the write is acknowledged,
as the API's 201 is); it is killed with SIGKILL at a random moment, several times, each time a new
writer going on. Afterwards every acknowledged row is in the database with its fields, the store
passes its integrity check (SQLite: ``PRAGMA integrity_check``, foreign keys, WAL; every dialect:
no orphan, schema at head), and a new writer writes. On SQLite and PostgreSQL (``store_url``).
The seed is printed; ``TOIAWASE_CRASH_SEED`` replays it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from feedback import FeedbackStore
from tests.paths import REPO_ROOT

SEED = int(os.environ.get("TOIAWASE_CRASH_SEED", random.SystemRandom().randrange(1_000_000)))

WRITER = """
import sys
from feedback import FeedbackStore
store = FeedbackStore.open(sys.argv[1])
run = sys.argv[2]
print("ready", flush=True)
i = 0
while True:
    prediction_id = store.log_prediction(question=f"返品したいです {run}-{i}", model_version="v1", category="返品", probability=0.9)
    action, category = ("confirm", "返品") if i % 2 else ("correct", "配送")
    result = store.record_feedback(idempotency_key=f"{run}-{i}", action=action, agent_category=category, prediction_id=prediction_id)
    print(f"ack {run}-{i} {result.feedback.id} {prediction_id} {action} {category}", flush=True)
    i += 1
"""


def write_until_killed(url: str, run: str, seconds: float) -> list[tuple[str, str, str, str, str]]:
    """Run a writer for ``seconds`` after it is ready, SIGKILL it, return its acknowledged rows."""
    process = subprocess.Popen([sys.executable, "-c", WRITER, url, run], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    assert process.stdout.readline().strip() == "ready"
    time.sleep(seconds)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    acks = [line.split()[1:] for line in process.stdout.read().splitlines() if line.startswith("ack ")]
    return [tuple(ack) for ack in acks]  # (key, feedback id, prediction id, action, category)


def test_kill_9_during_feedback_writes_loses_no_acknowledged_row_and_the_store_stays_sound(store_url):
    print(f"seed {SEED} (TOIAWASE_CRASH_SEED={SEED} replays it)")
    rng = random.Random(SEED)
    FeedbackStore.open(store_url).close()  # the schema exists before the first kill
    acknowledged = []
    for run in range(5):
        acks = write_until_killed(store_url, f"r{run}", rng.uniform(0.3, 2.0))
        print(f"run {run}: {len(acks)} rows acknowledged before the kill")
        acknowledged += acks
    assert len(acknowledged) > 0
    store = FeedbackStore.open(store_url)
    try:
        assert store.integrity_check() == []
        missing = []
        for key, feedback_id, prediction_id, action, category in acknowledged:
            row = store.get_feedback(feedback_id)
            if row is None or (row.idempotency_key, row.prediction_id, row.action, row.agent_category) != (key, prediction_id, action, category):
                missing.append(key)
        assert missing == [], f"{len(missing)} acknowledged rows missing or changed: {missing[:5]}"
        # The feedback table holds at most one row more per killed writer than it acknowledged
        # (committed, killed before it printed), never fewer.
        assert len(acknowledged) <= store.count_feedback() <= len(acknowledged) + 5
        # A later writer goes on.
        prediction_id = store.log_prediction(question="配送状況を知りたい", model_version="v1", category="配送", probability=0.8)
        assert store.record_feedback(idempotency_key="after", action="confirm", agent_category="配送", prediction_id=prediction_id).created
    finally:
        store.close()
    print(f"{len(acknowledged)} acknowledged rows, all present; integrity check passed")
