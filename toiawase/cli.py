"""The ``toiawase`` command line: train, evaluate, predict, serve (click).

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

import click

from preprocessing.datasets import FORMATS
from preprocessing.errors import TicketFileError
from routing.lstm import POOLINGS, RNN_KINDS, ModelConfig
from training.config import KINDS, TrainConfig


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _load(model: str):
    from routing.bundle import BundleError
    from routing.predictor import load_predictor

    try:
        return load_predictor(model)
    except BundleError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="toiawase")
def main() -> None:
    """toiawase (問い合わせ): route Japanese customer-support questions to categories."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off the terminal


_defaults = TrainConfig()
_model_defaults = ModelConfig()


@main.command()
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Training ticket file (TSV, CSV, JSONL, JSON).")
@click.option("--dev", type=click.Path(dir_okay=False), help="Validation ticket file (default: a stratified 20% of --data).")
@click.option("--out", default="models", show_default=True, type=click.Path(file_okay=False), help="Models directory.")
@click.option("--kind", default=_defaults.kind, show_default=True, type=click.Choice(KINDS), help="Model kind: the LSTM, or the TF-IDF + logistic regression baseline.")
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
@click.option("--quiet", is_flag=True, help="No per-epoch lines.")
def train(data, dev, out, fmt, text_column, label_column, skip_bad_rows, quiet, **options) -> None:
    """Train a router on past tickets and save a versioned model bundle under --out."""
    model_fields = {"rnn", "units", "layers", "embedding_dim", "bidirectional", "pooling", "dropout"}
    model_config = replace(_model_defaults, **{k: options.pop(k) for k in model_fields})
    keep = tuple(c.strip() for c in options.pop("keep_categories").split(",") if c.strip())
    config = replace(_defaults, model=model_config, keep_categories=keep, **options)
    from training.run import train as run

    try:
        result = run(
            data, out, config, dev=dev, text_column=text_column, label_column=label_column, fmt=fmt,
            skip_bad_rows=skip_bad_rows, log=click.echo, verbose=0 if quiet else 2,
        )
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
def evaluate(model, data, text_column, label_column, fmt, skip_bad_rows, as_json) -> None:
    """Evaluate a bundle on a labeled ticket file: accuracy, macro-F1, per category, confusion matrix."""
    from preprocessing.datasets import load_tickets
    from training.evaluate import evaluate_predictor
    from training.report import format_report

    predictor = _load(model)
    try:
        loaded = load_tickets(data, fmt=fmt, text_column=text_column, label_column=label_column, skip_bad_rows=skip_bad_rows)
    except TicketFileError as exc:
        _fail(str(exc))
    try:
        metrics = evaluate_predictor(predictor, [t.question for t in loaded.tickets], [t.category for t in loaded.tickets])
    except ValueError:
        _fail(f"{data}: no question with words left after cleaning; nothing to evaluate")
    metrics["skipped"] = {"unreadable rows": len(loaded.skipped), **metrics["skipped"]}
    if as_json:
        click.echo(json.dumps(metrics, ensure_ascii=False))
    else:
        click.echo(f"model {predictor.version} on {data}")
        click.echo(format_report(metrics))
        if any(metrics["skipped"].values()):
            click.echo(f"skipped: {metrics['skipped']}")


@main.command()
@click.option("--model", default="models", show_default=True, help="Bundle directory or models directory (uses its current).")
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(1))
@click.option("--jsonl", is_flag=True, help="Write JSON Lines instead of TSV.")
@click.option("--text-column", default="question", show_default=True)
@click.option("--batch-size", default=2048, show_default=True, type=click.IntRange(1), help="Questions per batch.")
@click.option("--jobs", type=click.IntRange(1), help="Worker processes (default: one per CPU core for large inputs).")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def predict(model, top_k, jsonl, text_column, batch_size, jobs, file) -> None:
    """Route questions from FILE (one per line, or a ticket file) or stdin.

    Writes TSV ``line, question, category, probability, needs_review, reason, top_k`` (``line``
    is the input's line number; top_k as ``cat:prob|cat:prob``), or JSON Lines with --jsonl. A
    question that needs review says why (no_content, out_of_scope, ambiguous, low_confidence);
    one with no words has an empty category.
    """
    from preprocessing.datasets import read_questions
    from routing.batch import default_jobs, predict_many

    predictor = _load(model)
    try:
        loaded = read_questions(file, stream=sys.stdin, text_column=text_column)
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
        click.echo(f"skipped {len(loaded.skipped)} blank or unreadable line(s)", err=True)


@main.command()
@click.option("--model", default=None, help="Bundle or models directory (default: $TOIAWASE_MODEL or models/).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1))
@click.option("--threshold", default=None, type=click.FloatRange(0, 1), help="Below this top probability, ask a person to route.")
@click.option("--worker-class", default="buffering", show_default=True,
              help="gunicorn worker class: 'buffering' (reads whole requests before a thread handles them: "
                   "slow clients hold no thread) or any gunicorn worker class, e.g. 'gthread'.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1), help="Threads per worker.")
def serve(model, host, port, workers, threshold, worker_class, threads) -> None:
    """Serve the web app and JSON API with gunicorn (each worker loads the bundle after fork).

    A broken bundle stops it before the workers start (one line naming the file, exit status
    2); a new `current` is picked up by the running workers within seconds.
    """
    from webapp.serve import WORKER_CLASS, run_gunicorn

    worker_class = WORKER_CLASS if worker_class == "buffering" else worker_class
    run_gunicorn(model=model, host=host, port=port, workers=workers, threshold=threshold, worker_class=worker_class,
                 threads=threads)
