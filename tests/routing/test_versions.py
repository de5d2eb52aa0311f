"""The versions of a models directory (routing/versions.py): pointers, promotion, rollback, prune, the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from routing.bundle import CURRENT, PREVIOUS, BundleError, BundleWriter, set_current
from routing.predictor import load_predictor
from routing.versions import (
    LEGACY_PARTIAL_AGE,
    LOCK_FILE,
    TRAINING_DATA_DIR,
    LockBusy,
    VersionError,
    bundle_versions,
    current_version,
    dead_leftovers,
    list_versions,
    models_lock,
    previous_version,
    promote,
    prune,
    rollback,
)
from tests.tiny_bundle import write_bundle

V1, V2, V3 = "20261120-020000-aaaaaa", "20261121-020000-bbbbbb", "20261122-020000-cccccc"


@pytest.fixture
def models(tmp_path) -> Path:
    return tmp_path / "models"


def test_writer_temporary_directories_carry_the_pid(models):
    with BundleWriter(models, V1) as writer:
        name = writer.path.name
        assert name.startswith(f".{V1}.{os.getpid()}.")
        assert dead_leftovers(models) == []  # a live writer's directory is never a leftover
    assert not (models / name).exists()


def test_set_current_records_previous_atomically(models):
    write_bundle(models, V1)
    assert current_version(models) == V1 and previous_version(models) is None
    write_bundle(models, V2)
    assert os.readlink(models / CURRENT) == V2 and os.readlink(models / PREVIOUS) == V1
    set_current(models, V2)  # the same version again: previous is left alone
    assert previous_version(models) == V1
    write_bundle(models, V3, make_current=False)
    assert (current_version(models), previous_version(models)) == (V2, V1)
    # No link made aside is left behind.
    assert sorted(p.name for p in models.iterdir()) == [V1, V2, V3, CURRENT, PREVIOUS]


def test_promote_and_rollback_swap_current_and_previous(models):
    write_bundle(models, V1)
    write_bundle(models, V2, make_current=False)
    switch = promote(models, V2)
    assert (switch.before, switch.current, switch.previous) == (V1, V2, V1)
    assert load_predictor(models).version == V2
    switch = rollback(models)
    assert (switch.before, switch.current, switch.previous) == (V2, V1, V2)
    assert load_predictor(models).version == V1
    assert rollback(models).current == V2  # and back again


def test_promotion_refuses_a_bundle_that_does_not_load(models):
    write_bundle(models, V1)
    broken = write_bundle(models, V2, make_current=False)
    (broken / "weights.npz").write_bytes(b"")
    with pytest.raises(BundleError, match=rf"^{broken / 'weights.npz'}: incomplete or damaged bundle \(EOFError"):
        promote(models, V2)
    assert (current_version(models), previous_version(models)) == (V1, None)
    with pytest.raises(VersionError, match=rf"^{models / '20990101-000000-ffffff'}: no such version"):
        promote(models, "20990101-000000-ffffff")
    for name in ("../elsewhere", ".hidden", CURRENT, ""):
        with pytest.raises(VersionError, match="is not a version name"):
            promote(models, name)


def test_rollback_without_previous_is_refused(models):
    with pytest.raises(VersionError, match="no previous version to roll back to"):
        rollback(models)
    write_bundle(models, V1)
    with pytest.raises(VersionError, match="no previous version to roll back to"):
        rollback(models)


def test_list_versions_newest_first_with_metrics_and_pointers(models):
    metrics = {"macro_f1": 0.9012, "accuracy": 0.9100, "calibration": {"ece_after": 0.0312},
               "data": {"file_counts": {"配送": 300, "アカウント": 368}, "dev_file": "/srv/dev.tsv"}}
    write_bundle(models, V1, metrics=metrics)
    write_bundle(models, V2)  # no metrics.json
    write_bundle(models, V3, make_current=False)
    (models / V3 / "bundle.json").write_text("{", encoding="utf-8")
    infos = list_versions(models)
    assert [info.version for info in infos] == [V3, V2, V1]
    damaged, middle, oldest = infos
    assert damaged.error.startswith(f"{models / V3 / 'bundle.json'}: incomplete or damaged bundle") and not damaged.current
    assert (middle.current, middle.previous, middle.macro_f1, middle.train_rows) == (True, False, None, None)
    assert oldest.to_dict() == {
        "version": V1, "kind": "tfidf", "created_at": "2026-11-20T02:00:00+00:00", "train_file": "/srv/toiawase/tickets.tsv",
        "train_rows": 668, "macro_f1": 0.9012, "accuracy": 0.91, "ece": 0.0312, "validation": "/srv/dev.tsv",
        "current": False, "previous": True, "error": None,
    }


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_prune_keeps_the_newest_current_and_previous_and_removes_dead_leftovers(models):
    for version in (V1, V2, V3, "20261123-020000-dddddd"):
        write_bundle(models, version, make_current=version in (V1, V2), train_file=f"/srv/models/{TRAINING_DATA_DIR}/{version[:15]}.tsv")
    # current = V2, previous = V1; the newest is 20261123 (not current).
    (models / TRAINING_DATA_DIR).mkdir()
    for version in (V1, V2, V3, "20261123-020000-dddddd", "20261124-020000-eeeeee"):
        (models / TRAINING_DATA_DIR / f"{version[:15]}.tsv").write_text("id\tquestion\tcategory\tsource\n", encoding="utf-8")
    gone = dead_pid()
    (models / f".20261124-020000-eeeeee.{gone}.k3j4_h").mkdir()         # a killed training
    (models / f".20261124-030000-ffffff.{os.getpid()}.x8y9z0").mkdir()  # a live one (this process)
    old = models / ".20261101-020000-999999.abc123"                     # before pids were recorded
    old.mkdir()
    os.utime(old, (time.time() - LEGACY_PARTIAL_AGE - 60,) * 2)
    os.symlink(V1, models / f".{CURRENT}.{gone}")                       # a pointer switch killed midway
    result = prune(models, keep=1)
    assert result.removed == [V3]
    assert result.kept == ["20261123-020000-dddddd", V2, V1]
    assert result.partials == sorted([f".20261124-020000-eeeeee.{gone}.k3j4_h", ".20261101-020000-999999.abc123", f".{CURRENT}.{gone}"])
    assert result.training_data == ["20261122-020000.tsv", "20261124-020000.tsv"]
    assert bundle_versions(models) == [V1, V2, "20261123-020000-dddddd"]
    assert (models / f".20261124-030000-ffffff.{os.getpid()}.x8y9z0").is_dir()
    assert (current_version(models), previous_version(models)) == (V2, V1)
    # keep=0 still keeps current and previous.
    assert prune(models, keep=0).removed == ["20261123-020000-dddddd"]
    assert bundle_versions(models) == [V1, V2]
    with pytest.raises(ValueError):
        prune(models, keep=-1)


def test_the_lock_turns_a_second_holder_away_or_makes_it_wait(models):
    with models_lock(models, "retrain") as path:
        assert path == models / LOCK_FILE
        assert path.read_text(encoding="utf-8").startswith(f"pid {os.getpid()} retrain since ")
        with pytest.raises(LockBusy, match=rf"^{path}: locked by another toiawase command \(pid {os.getpid()} retrain since .*\); try again later or pass --wait$"):
            with models_lock(models, "models prune"):
                pass
    # Free again once released; with wait=True a second holder waits for the first.
    order = []
    release = threading.Event()

    def first():
        with models_lock(models, "retrain"):
            order.append("first in")
            release.wait(5)
            time.sleep(0.2)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    while not order:
        time.sleep(0.01)
    release.set()
    with models_lock(models, "models rollback", wait=True):
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]


def test_the_lock_is_released_when_its_holder_is_killed(models):
    models.mkdir()
    code = (
        "import sys, time\n"
        "from routing.versions import models_lock\n"
        "with models_lock(sys.argv[1], 'retrain'):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(models)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(LockBusy, match=f"pid {child.pid} retrain"):
            with models_lock(models, "retrain"):
                pass
    finally:
        child.kill()
        child.wait()
    with models_lock(models, "retrain") as path:
        assert path.read_text(encoding="utf-8").startswith(f"pid {os.getpid()} retrain")
