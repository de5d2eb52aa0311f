"""The ``toiawase retrain`` and ``toiawase models list|promote|rollback|prune`` commands (click).

Registered on the console script's group by :mod:`toiawase.cli`. Exit statuses:

* ``retrain``: 0 the challenger was promoted (or, with ``--dry-run``, would be), 3 the champion
  was kept (the gate refused the challenger), 2 bad input (an unreadable ticket file, bad
  options; one ``error:`` line naming the file and line), 1 a failure (another command holds
  the lock, the feedback store cannot be reached, training failed);
* ``models``: 0 done, 2 bad input (no such version, a bundle that does not load: the file is
  named), 1 the lock is held.

``retrain`` is made for cron: stdout gets exactly one summary line; stderr gets the run's
warnings and, on a failure, one ``error:`` line (after the last lines libraries printed, for a
failure that is not bad input). What libraries print while training (TensorFlow writes to the
process's stdout and stderr directly, before its log level applies) is kept off both;
``--verbose`` shows it, with the progress lines, on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from typing import IO

import click

from routing.lstm import RNN_KINDS
from training.config import KINDS
from training.gate import GatePolicy

#: Exit status of a failure (bad input is 2, as click's usage errors).
FAILURE = 1


def _error(message: str, status: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


@contextlib.contextmanager
def quiet_output(capture_stderr: bool) -> Iterator[IO[bytes] | None]:
    """Keep what libraries print while training off stdout, and (``capture_stderr``) off stderr too.

    File descriptor 1 (and Python's ``sys.stdout``) go to stderr, so stdout only ever carries
    the summary line. With ``capture_stderr``, file descriptor 2 goes to a temporary file that
    is yielded: TensorFlow's start-up lines (written by its C++ logging before
    ``TF_CPP_MIN_LOG_LEVEL`` applies, e.g. "Could not find cuda drivers") then stay out of
    cron's mail; the caller shows its end when the run fails.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    sink = tempfile.TemporaryFile() if capture_stderr else None
    try:
        if sink is not None:
            os.dup2(sink.fileno(), 2)
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield sink
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)


def _tail(sink: IO[bytes] | None, lines: int = 10) -> list[str]:
    """The last ``lines`` lines written to a :func:`quiet_output` sink."""
    if sink is None:
        return []
    sink.seek(0)
    return sink.read().decode("utf-8", errors="replace").splitlines()[-lines:]


_policy = GatePolicy()


@click.command()
@click.option("--models", "models_dir", default="models", show_default=True, type=click.Path(file_okay=False),
              help="Models directory: the champion (its current), the new bundle, reports/, the lock.")
@click.option("--data", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Base ticket file; repeat for more (a later file's row wins over an earlier one's).")
@click.option("--eval", "eval_file", required=True, type=click.Path(dir_okay=False), help="Frozen labeled evaluation file.")
@click.option("--db", help="Feedback store URL (default: $TOIAWASE_DB, else MODELS/feedback.sqlite3).")
@click.option("--max-drop", default=_policy.max_drop, show_default=True, type=click.FloatRange(0, 1),
              help="Largest allowed fall of macro-F1 (0.01 = one point), on each evaluation set.")
@click.option("--max-category-drop", default=_policy.max_category_drop, show_default=True, type=click.FloatRange(0, 1),
              help="Largest allowed fall of one category's recall, on each evaluation set.")
@click.option("--min-category-support", default=_policy.min_category_support, show_default=True, type=click.IntRange(1),
              help="Categories with fewer questions in an evaluation set are shown, not gated.")
@click.option("--min-recent", default=_policy.min_recent, show_default=True, type=click.IntRange(1),
              help="The recent feedback is gated only with at least this many questions.")
@click.option("--recent-days", type=click.FloatRange(0, min_open=True), help="Hold out the feedback of the last N days.")
@click.option("--recent-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Hold out the latest share of the feedback (default 0.2: training.retrain.DEFAULT_RECENT_FRACTION).")
@click.option("--dry-run", is_flag=True, help="Train, evaluate and report; never promote (exit 0 or 3 as the gate says).")
@click.option("--wait", is_flag=True, help="Wait for another retrain (or models command) to finish instead of failing.")
@click.option("--keep-eval-questions", is_flag=True, help="Also train on questions that are in the evaluation file.")
@click.option("--text-column", default="question", show_default=True)
@click.option("--label-column", default="category", show_default=True)
@click.option("--skip-bad-rows", is_flag=True, help="Skip unreadable rows (counted in the report) instead of stopping.")
@click.option("--verbose", is_flag=True, help="Progress lines on stderr.")
@click.option("--kind", type=click.Choice(KINDS), help="Training settings below default to the champion's.")
@click.option("--epochs", type=click.IntRange(1))
@click.option("--seed", type=int)
@click.option("--batch-size", type=click.IntRange(1))
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True))
@click.option("--patience", type=click.IntRange(0))
@click.option("--max-vocab", type=click.IntRange(1))
@click.option("--rnn", type=click.Choice(RNN_KINDS))
@click.option("--units", type=click.IntRange(1))
@click.option("--layers", type=click.IntRange(1))
@click.option("--embedding-dim", type=click.IntRange(1))
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True))
def retrain(models_dir, data, eval_file, db, max_drop, max_category_drop, min_category_support, min_recent, recent_days,
            recent_fraction, dry_run, wait, keep_eval_questions, text_column, label_column, skip_bad_rows, verbose, **training) -> None:
    """Train a challenger on the base tickets plus the agents' feedback, gate it against the current
    model on --eval and on the most recent feedback, promote it or keep the champion, and write
    a report to MODELS/reports/.

    Prints one line. Exit status: 0 promoted (--dry-run: would be), 3 kept, 2 bad input, 1 failure.
    """
    from feedback import StoreOpenError, StoreURLError
    from preprocessing.errors import TicketFileError
    from routing.bundle import BundleError
    from routing.versions import LockBusy
    from training.retrain import RetrainOptions, retrain as run

    model_fields = ("rnn", "units", "layers", "embedding_dim", "dropout")
    overrides: dict = {key: value for key, value in training.items() if value is not None and key not in model_fields}
    network = {key: training[key] for key in model_fields if training[key] is not None}
    if network:
        overrides["model"] = network

    warnings: list[str] = []

    def log(line: str) -> None:
        if verbose:
            click.echo(line, err=True)
        elif line.startswith("warning:"):
            warnings.append(line)  # shown once the output is ours again

    status, message, sink = 0, "", None
    try:
        options = RetrainOptions(
            models_dir=models_dir, data=tuple(data), eval_file=eval_file, db_url=db,
            policy=GatePolicy(max_drop, max_category_drop, min_category_support, min_recent),
            recent_days=recent_days, recent_fraction=recent_fraction, dry_run=dry_run, wait=wait,
            keep_eval_questions=keep_eval_questions, text_column=text_column, label_column=label_column,
            skip_bad_rows=skip_bad_rows, overrides=overrides,
        )
        with quiet_output(capture_stderr=not verbose) as sink:
            outcome = run(options, log=log)
    except (LockBusy, StoreOpenError) as error:
        status, message = FAILURE, str(error)
    except (TicketFileError, StoreURLError) as error:
        status, message = 2, str(error)
    except BundleError as error:
        status, message = FAILURE, f"the new bundle does not load: {error}"
    except (ValueError, TypeError) as error:
        status, message = 2, str(error)
    except Exception as error:  # a failure of training or of the machine: one line for cron, details with --verbose
        if verbose:
            import traceback

            traceback.print_exc()
        status, message = FAILURE, f"retrain failed: {type(error).__name__}: {error}"
    for line in warnings:
        click.echo(line, err=True)
    if status:
        if status == FAILURE:
            for line in _tail(sink):
                click.echo(f"  | {line}", err=True)
        if sink is not None:
            sink.close()
        _error(message, status)
    if sink is not None:
        sink.close()
    click.echo(outcome.summary)
    sys.exit(outcome.exit_code)


# -- models -----------------------------------------------------------------------------------


@click.group()
def models() -> None:
    """List the versions in a models directory, promote one, roll back, prune old ones."""


_models_option = click.option("--models", "models_dir", default="models", show_default=True, type=click.Path(file_okay=False),
                              help="Models directory.")
_wait_option = click.option("--wait", is_flag=True, help="Wait for a running retrain instead of failing.")


def _width(text: str) -> int:
    """Terminal columns of ``text`` (East Asian wide characters count 2)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_versions(infos) -> str:
    """The table ``toiawase models list`` prints: one row per version, newest first.

    Columns: version, kind, created (UTC), training data (file and usable rows), macro-F1,
    accuracy and ECE (after calibration) on that bundle's own validation data, and which
    pointer names it (``current``, ``previous``). A bundle that cannot be read gets one line
    ``<version>  damaged: <why>``.
    """
    header = ["VERSION", "KIND", "CREATED (UTC)", "TRAINING DATA", "MACRO-F1", "ACCURACY", "ECE", ""]
    rows, damaged = [], {}
    for info in infos:
        mark = "current" if info.current else "previous" if info.previous else ""
        if info.error:
            damaged[len(rows)] = f"{info.version}  damaged{f' ({mark})' if mark else ''}: {info.error}"
            rows.append(None)
            continue
        try:
            created = datetime.fromisoformat(info.created_at).strftime("%Y-%m-%d %H:%M:%S") if info.created_at else "–"
        except ValueError:
            created = str(info.created_at)
        data = os.path.basename(info.train_file) if info.train_file else "–"
        if info.train_rows is not None:
            data += f" ({info.train_rows:,} rows)"
        number = lambda value: "–" if value is None else f"{value:.4f}"  # noqa: E731
        rows.append([info.version, info.kind or "?", created, data, number(info.macro_f1), number(info.accuracy), number(info.ece), mark])
    right = {4, 5, 6}
    widths = [max(_width(row[i]) for row in [header, *rows] if row is not None) for i in range(len(header))]
    lines = []
    for index, row in enumerate([header, *rows]):
        if row is None:
            lines.append(damaged[index - 1])
            continue
        cells = [(" " * (widths[i] - _width(cell)) + cell) if i in right else (cell + " " * (widths[i] - _width(cell))) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@models.command("list")
@_models_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version, newest first (JSON Lines).")
def list_command(models_dir, as_json) -> None:
    """List the versions, newest first, with their metrics and which is current and previous."""
    from routing.versions import list_versions

    infos = list_versions(models_dir)
    if as_json:
        for info in infos:
            click.echo(json.dumps(info.to_dict(), ensure_ascii=False))
        return
    if not infos:
        click.echo(f"no model versions in {models_dir}")
        return
    click.echo(format_versions(infos))


@contextlib.contextmanager
def _changing(models_dir: str, command: str, wait: bool) -> Iterator[None]:
    """Hold the lock; map the version errors to one ``error:`` line (2: bad input, 1: lock held)."""
    from routing.bundle import BundleError
    from routing.versions import LockBusy, VersionError, models_lock

    try:
        with models_lock(models_dir, command, wait=wait):
            yield
    except LockBusy as error:
        _error(str(error), FAILURE)
    except (VersionError, BundleError) as error:
        _error(str(error), 2)


@models.command("promote")
@click.argument("version")
@_models_option
@_wait_option
def promote_command(version, models_dir, wait) -> None:
    """Serve VERSION: point current at it (previous then names the version served until now).

    A bundle that does not load is refused (exit 2, naming the damaged file).
    """
    from routing.versions import current_version, promote

    with _changing(models_dir, "models promote", wait):
        if current_version(models_dir) == version:
            click.echo(f"{version} is already current")
            return
        switch = promote(models_dir, version)
    click.echo(f"promoted {switch.current} (previous: {switch.previous or 'none'})")


@models.command("rollback")
@_models_option
@_wait_option
def rollback_command(models_dir, wait) -> None:
    """Serve the previous version again: swap current and previous."""
    from routing.versions import rollback

    with _changing(models_dir, "models rollback", wait):
        switch = rollback(models_dir)
    click.echo(f"rolled back to {switch.current} (previous: {switch.previous})")


@models.command("prune")
@click.option("--keep", required=True, type=click.IntRange(0), help="How many of the newest versions to keep (current and previous are always kept).")
@_models_option
@_wait_option
def prune_command(keep, models_dir, wait) -> None:
    """Remove old versions (never current or previous), dead writers' leftovers and unused re-training data."""
    from routing.versions import TRAINING_DATA_DIR, current_version, previous_version, prune

    with _changing(models_dir, "models prune", wait):
        result = prune(models_dir, keep)
        current, previous = current_version(models_dir), previous_version(models_dir)
    for version in result.removed:
        click.echo(f"removed {version}")
    for name in result.partials:
        click.echo(f"removed leftover {name}")
    for name in result.training_data:
        click.echo(f"removed {TRAINING_DATA_DIR}/{name}")
    marks = {current: " (current)", previous: " (previous)"}
    kept = ", ".join(f"{version}{marks.get(version, '')}" for version in result.kept) or "none"
    click.echo(f"kept {len(result.kept)} version(s): {kept}")
