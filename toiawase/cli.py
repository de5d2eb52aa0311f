"""The ``toiawase`` command line: train, evaluate, predict, serve, feedback export, retrain, models (click).

The top of the import graph: the only module that imports both :mod:`training` and
:mod:`webapp`. Bad input (unreadable ticket file, missing or damaged bundle) prints one line
``error: FILE:LINE: reason`` to stderr and exits with status 2, the status click uses for usage
errors; no traceback.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from datetime import datetime, timezone

import click

from preprocessing.datasets import FORMATS
from preprocessing.errors import TicketFileError
from routing.lstm import POOLINGS, RNN_KINDS, ModelConfig
from training.config import KINDS, TrainConfig


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _load(model: str):
    """The bundle for routing only: without its similar-tickets index, which no command here shows."""
    from routing.bundle import BundleError
    from routing.predictor import load_predictor

    try:
        return load_predictor(model, similar=False)
    except BundleError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="toiawase")
@click.option("--verbose", is_flag=True, help="Let libraries' log lines (TensorFlow's start-up messages) through to stderr.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """toiawase (問い合わせ): route Japanese customer-support questions to categories."""
    ctx.obj = {"verbose": verbose}
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off the terminal


def _verbose(local: bool) -> bool:
    """``--verbose`` given to the command or to ``toiawase`` itself."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().obj if ctx is not None else None
    return local or bool((root or {}).get("verbose"))


_VERBOSE_HELP = "Let TensorFlow's start-up log lines through to stderr (hidden by default; also `toiawase --verbose`)."
_ENCODING_HELP = "Text encoding of the file, e.g. cp932 (Shift_JIS) or utf-8 (default: detected)."


_defaults = TrainConfig()
_model_defaults = ModelConfig()


class _LstmWeight(click.ParamType):
    """``--lstm-weight``: a number in [0, 1], or ``auto`` (``None``: chosen on the holdout)."""

    name = "WEIGHT|auto"

    def convert(self, value, param, ctx) -> float | None:
        """``auto`` → ``None``; a number in [0, 1] → that float. Fails the command otherwise."""
        if value is None or isinstance(value, float):
            return value
        if str(value).strip().lower() == "auto":
            return None
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not 0.0 <= weight <= 1.0:
            self.fail(f"{value!r} is neither a number between 0 and 1 nor 'auto'", param, ctx)
        return weight


@main.command()
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Training ticket file (TSV, CSV, JSONL, JSON).")
@click.option("--dev", type=click.Path(dir_okay=False), help="Validation ticket file (default: a stratified 20% of --data).")
@click.option("--out", default="models", show_default=True, type=click.Path(file_okay=False), help="Models directory.")
@click.option("--kind", default=_defaults.kind, show_default=True, type=click.Choice(KINDS), help="Model kind: the LSTM, the TF-IDF + logistic regression baseline, or the hybrid (the LSTM and a linear model over word and character n-grams, fused).")
@click.option("--epochs", default=_defaults.epochs, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=_defaults.seed, show_default=True, type=int)
@click.option("--batch-size", default=_defaults.batch_size, show_default=True, type=click.IntRange(1))
@click.option("--learning-rate", default=_defaults.learning_rate, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--patience", default=_defaults.patience, show_default=True, type=click.IntRange(0), help="Early-stopping patience (epochs).")
@click.option("--text-column", default="question", show_default=True)
@click.option("--label-column", default="category", show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Input format (default: from the file extension).")
@click.option("--skip-bad-rows", is_flag=True, help="Skip unreadable rows (counted in the report) instead of stopping.")
@click.option("--cap", type=click.IntRange(1), help="Most training examples per category (the classic recipe: 700).")
@click.option("--oversample", is_flag=True, help="Oversample categories below the cap up to it.")
@click.option("--class-weight", is_flag=True, help="Weight the loss by inverse category frequency.")
@click.option("--keep-categories", default="", help="Comma-separated categories to keep; the rest are merged into --other-label.")
@click.option("--other-label", default=_defaults.other_label, show_default=True)
@click.option("--max-vocab", default=_defaults.max_vocab, show_default=True, type=click.IntRange(1))
@click.option("--token-form", default=_defaults.token_form, show_default=True, type=click.Choice(["surface", "base"]))
@click.option("--rnn", default=_model_defaults.rnn, show_default=True, type=click.Choice(RNN_KINDS))
@click.option("--units", default=_model_defaults.units, show_default=True, type=click.IntRange(1))
@click.option("--layers", default=_model_defaults.layers, show_default=True, type=click.IntRange(1))
@click.option("--embedding-dim", default=_model_defaults.embedding_dim, show_default=True, type=click.IntRange(1))
@click.option("--bidirectional/--unidirectional", default=_model_defaults.bidirectional, show_default=True)
@click.option("--pooling", default=_model_defaults.pooling, show_default=True, type=click.Choice(POOLINGS))
@click.option("--dropout", default=_model_defaults.dropout, show_default=True, type=click.FloatRange(0, 1, max_open=True))
@click.option("--target-precision", default=_defaults.target_precision, show_default=True, type=click.FloatRange(0, 1),
              help="The review threshold is chosen so that automatically routed questions are at least this precise.")
@click.option("--review-margin", default=_defaults.review_margin, show_default=True, type=click.FloatRange(0, 1),
              help="Two top probabilities closer than this make a question ambiguous (review).")
@click.option("--lstm-weight", type=_LstmWeight(), default=_defaults.lstm_weight, show_default=True,
              help="Kind hybrid: the LSTM member's weight in the fusion, the n-gram member gets the rest; 'auto': chosen on the holdout by macro-F1.")
@click.option("--holdout-groups", metavar="REGEX",
              help="Hold out whole conversations: a regular expression whose first group, searched in each ticket id, names its conversation (e.g. '^(.+)_turn_\\d+$').")
@click.option("--tensorboard", type=click.Path(file_okay=False), help="Write TensorBoard logs of the training to this directory.")
@click.option("--quiet", is_flag=True, help="No per-epoch lines.")
@click.option("--encoding", help=_ENCODING_HELP)
@click.option("--verbose", is_flag=True, help=_VERBOSE_HELP)
def train(data, dev, out, fmt, text_column, label_column, skip_bad_rows, quiet, encoding, verbose, **options) -> None:
    """Train a router on past tickets and save a versioned model bundle under --out."""
    model_fields = {"rnn", "units", "layers", "embedding_dim", "bidirectional", "pooling", "dropout"}
    model_config = replace(_model_defaults, **{k: options.pop(k) for k in model_fields})
    keep = tuple(c.strip() for c in options.pop("keep_categories").split(",") if c.strip())
    try:
        config = replace(_defaults, model=model_config, keep_categories=keep, **options)
    except ValueError as exc:
        _fail(str(exc))
    from toiawase.quiet import hide_library_logs

    with hide_library_logs(enabled=not _verbose(verbose)):
        from training.run import train as run

        try:
            result = run(
                data, out, config, dev=dev, text_column=text_column, label_column=label_column, fmt=fmt,
                skip_bad_rows=skip_bad_rows, log=click.echo, verbose=0 if quiet else 2, encoding=encoding,
            )
        except LookupError:
            _fail(f"unknown --encoding {encoding!r} (e.g. utf-8, cp932)")
        except TicketFileError as exc:
            _fail(str(exc))
        except ValueError as exc:
            _fail(str(exc))
    click.echo(result.report)
    click.echo(f"\nmodel bundle: {result.bundle_path}")


@main.command()
@click.option("--model", default="models", show_default=True, help="Bundle directory or models directory (uses its current).")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Labeled ticket file.")
@click.option("--text-column", default="question", show_default=True)
@click.option("--label-column", default="category", show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS))
@click.option("--skip-bad-rows", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--encoding", help=_ENCODING_HELP)
@click.option("--verbose", is_flag=True, help=_VERBOSE_HELP)
def evaluate(model, data, text_column, label_column, fmt, skip_bad_rows, as_json, encoding, verbose) -> None:
    """Evaluate a bundle on a labeled ticket file: accuracy, macro-F1, per category, confusion matrix."""
    from toiawase.quiet import hide_library_logs

    with hide_library_logs(enabled=not _verbose(verbose)):
        _evaluate(model, data, text_column, label_column, fmt, skip_bad_rows, as_json, encoding)


def _evaluate(model, data, text_column, label_column, fmt, skip_bad_rows, as_json, encoding) -> None:
    from preprocessing.datasets import load_tickets
    from training.evaluate import evaluate_predictor
    from training.report import format_report

    predictor = _load(model)
    try:
        loaded = load_tickets(data, fmt=fmt, text_column=text_column, label_column=label_column, skip_bad_rows=skip_bad_rows,
                              encoding=encoding)
    except LookupError:
        _fail(f"unknown --encoding {encoding!r} (e.g. utf-8, cp932)")
    except TicketFileError as exc:
        _fail(str(exc))
    try:
        metrics = evaluate_predictor(predictor, [t.question for t in loaded.tickets], [t.category for t in loaded.tickets])
    except ValueError:
        _fail(f"{data}: no question with words left after cleaning; nothing to evaluate")
    metrics["skipped"] = {"unreadable rows": len(loaded.skipped), **metrics["skipped"]}
    overlap = metrics.get("overlap")
    if overlap and overlap["questions"]:
        click.echo(
            f"warning: {overlap['questions']} of the {metrics['n']} questions of {data} ({overlap['share']:.1%}) are training "
            f"questions of model {predictor.version}: these metrics overstate how it does on new questions",
            err=True,
        )
    if as_json:
        click.echo(json.dumps(metrics, ensure_ascii=False))
    else:
        click.echo(f"model {predictor.version} on {data}")
        click.echo(format_report(metrics))
        if any(metrics["skipped"].values()):
            click.echo(f"skipped: {metrics['skipped']}")
        if overlap is None:
            click.echo("overlap with the training data: unknown (the bundle has no training fingerprints)")
        else:
            click.echo(f"overlap with the training data: {overlap['questions']} of {metrics['n']} questions ({overlap['share']:.1%})")


@main.command()
@click.option("--model", default="models", show_default=True, help="Bundle directory or models directory (uses its current).")
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(1))
@click.option("--jsonl", is_flag=True, help="Write JSON Lines instead of TSV.")
@click.option("--text-column", default="question", show_default=True)
@click.option("--batch-size", default=2048, show_default=True, type=click.IntRange(1), help="Questions per batch.")
@click.option("--jobs", type=click.IntRange(1), help="Worker processes (default: one per CPU core for large inputs).")
@click.option("--encoding", help=_ENCODING_HELP)
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def predict(model, top_k, jsonl, text_column, batch_size, jobs, encoding, file) -> None:
    """Route questions from FILE (one per line, or a ticket file) or stdin.

    Writes TSV ``line, question, category, probability, needs_review, reason, top_k`` (``line``
    is the input's line number; top_k as ``cat:prob|cat:prob``), or JSON Lines with --jsonl:
    one row per input line (a header line excepted), so the output lines up with the input. A
    question that needs review says why (no_content, out_of_scope, ambiguous, low_confidence);
    a blank line, or one with no words, has reason no_content and an empty category.
    """
    from preprocessing.datasets import read_questions
    from routing.batch import default_jobs, predict_many

    predictor = _load(model)
    try:
        loaded = read_questions(file, stream=sys.stdin, text_column=text_column, keep_blank=True, encoding=encoding)
    except LookupError:
        _fail(f"unknown --encoding {encoding!r} (e.g. utf-8, cp932)")
    except TicketFileError as exc:
        _fail(str(exc))
    out = sys.stdout
    if not jsonl:
        out.write("line\tquestion\tcategory\tprobability\tneeds_review\treason\ttop_k\n")
    questions = [t.question for t in loaded.tickets]
    jobs = jobs or default_jobs(len(questions), batch_size)
    routed = (p for chunk in predict_many(predictor, questions, top_k, jobs, batch_size) for p in chunk)
    for ticket, prediction in zip(loaded.tickets, routed):
        if jsonl:
            out.write(json.dumps({"line": ticket.line, "question": ticket.question, **prediction.to_dict()}, ensure_ascii=False) + "\n")
        else:
            flat = " ".join(ticket.question.split())
            probability = "" if prediction.probability is None else f"{prediction.probability:.4f}"
            top = "|".join(f"{c}:{p:.4f}" for c, p in prediction.top_k)
            review = "true" if prediction.needs_review else "false"
            out.write(f"{ticket.line}\t{flat}\t{prediction.category or ''}\t{probability}\t{review}\t{prediction.reason or ''}\t{top}\n")
    if loaded.skipped:
        click.echo(f"skipped {len(loaded.skipped)} unreadable line(s)", err=True)


@main.command()
@click.option("--model", default=None, help="Bundle or models directory (default: $TOIAWASE_MODEL or models/).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1))
@click.option("--threshold", default=None, type=click.FloatRange(0, 1), help="Below this top probability, ask a person to route.")
@click.option("--db", default=None, help="Feedback database URL (SQLAlchemy), e.g. postgresql+psycopg://user@host/db "
              "(default: $TOIAWASE_DB, else feedback.sqlite3 in the models directory).")
@click.option("--worker-class", default="buffering", show_default=True,
              help="gunicorn worker class: 'buffering' (reads whole requests before a thread handles them: "
                   "slow clients hold no thread) or any gunicorn worker class, e.g. 'gthread'.")
@click.option("--threads", default=32, show_default=True, type=click.IntRange(1), help="Threads per worker.")
def serve(model, host, port, workers, threshold, db, worker_class, threads) -> None:
    """Serve the web app and JSON API with gunicorn (each worker loads the bundle after fork).

    A broken bundle stops it before the workers start (one line naming the file, exit status
    2); a new `current` is picked up by the running workers within seconds. A feedback database
    URL that does not parse is an error (status 2); a database that cannot be reached is a
    warning: questions are routed without being logged, feedback answers 503.
    """
    from feedback import StoreURLError
    from webapp.serve import WORKER_CLASS, run_gunicorn

    worker_class = WORKER_CLASS if worker_class == "buffering" else worker_class
    try:
        run_gunicorn(model=model, host=host, port=port, workers=workers, threshold=threshold, db=db,
                     worker_class=worker_class, threads=threads)
    except StoreURLError as exc:
        _fail(" ".join(str(exc).split()))


class IsoTime(click.ParamType):
    """A date or date-time in ISO 8601 (``2026-11-22``, ``2026-11-22T09:00+09:00``); without an offset, UTC."""

    name = "ISO-TIME"

    def convert(self, value, param, ctx) -> datetime:
        """Parse ``value`` (``datetime.fromisoformat``); a naive value is taken as UTC. Fails the command otherwise."""
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or date-time (e.g. 2026-11-22 or 2026-11-22T09:00+09:00)", param, ctx)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@main.group()
def feedback() -> None:
    """The feedback store: the prediction log and the agents' confirmations and corrections."""


@feedback.command("export")
@click.option("--models", default="models", show_default=True, type=click.Path(file_okay=False),
              help="Models directory (its feedback.sqlite3 is the default database).")
@click.option("--db", default=None, help="Feedback database URL (default: $TOIAWASE_DB, else MODELS/feedback.sqlite3).")
@click.option("--out", default="-", show_default=True, help="TSV file to write (replaced atomically), or - for standard output.")
@click.option("--since", type=IsoTime(), help="Only feedback given at or after this time (ISO 8601; no offset: UTC).")
@click.option("--until", type=IsoTime(), help="Only feedback given before this time (ISO 8601; no offset: UTC).")
def export(models, db, out, since, until) -> None:
    """Write the agents' labels as a ticket TSV (id, question, answer, category) for re-training.

    One row per distinct (masked) question with its final category: a correction overrides a
    confirmation, the latest wins (FeedbackStore.labeled_tickets). The file is the classic
    ticket export that `toiawase train --data` reads. A bad URL or an unreachable or missing
    database prints one `error:` line and exits with status 2.
    """
    from feedback import FeedbackStore, FeedbackStoreError, resolve_url
    from feedback.engine import parse_url, sqlite_path

    url = resolve_url(db, models)
    if out != "-" and not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        _fail(f"cannot write {out}: the directory {os.path.dirname(os.path.abspath(out))} does not exist")
    try:
        path = sqlite_path(parse_url(url))
        if path is not None and not path.is_file():
            _fail(f"no feedback database at {path} (`toiawase serve` creates it; give --db or $TOIAWASE_DB for another one)")
        with FeedbackStore.open(url) as store:
            target = sys.stdout if out == "-" else out
            count = store.export_tsv(target, since=since, until=until)
    except (FeedbackStoreError, ValueError, OSError) as exc:
        _fail(" ".join(str(exc).split()))  # one line (a driver's message may span several)
    if out != "-":
        click.echo(f"exported {count} labeled ticket(s) to {out}", err=True)
    else:
        sys.stdout.flush()
        click.echo(f"exported {count} labeled ticket(s)", err=True)


# retrain and models (list, promote, rollback, prune): their own module, registered here.
from toiawase.retrain_cli import models as _models, retrain as _retrain  # noqa: E402

main.add_command(_retrain)
main.add_command(_models)
