"""The nightly re-training loop behind ``toiawase retrain``: champion, challenger, gate, promotion, report.

One run, under the models directory's lock (:func:`routing.versions.models_lock`):

1. the **champion** is the bundle ``current`` points at (none on a first run);
2. the agents' labels are read from the feedback store (:meth:`feedback.FeedbackStore.labeled_tickets`
   up to the run's start, so the run is reproducible) and the **most recent** of them are held
   out by time (``recent_fraction`` of them, or those of the last ``recent_days`` days): the
   challenger never trains on them, they are a second evaluation set of *new* traffic;
3. the **training data** is the base ticket file(s) plus the older feedback, merged by the
   normalized question (:func:`merge_training_rows`: the cleaned text, so
   ``ﾊﾟｽﾜｰﾄﾞ`` and ``パスワード`` are one question): duplicates collapse (the later row wins),
   an agent's label overrides the base file's, and questions of the evaluation sets are left
   out (so neither evaluation is of questions the challenger was trained on). It is written to
   ``training-data/<run>.tsv`` with a ``source`` column saying where each row came from;
4. the **challenger** is trained by the same :func:`training.run.train` as ``toiawase train``,
   with the champion's training configuration (``bundle.json["train_config"]``) unless
   overridden, the evaluation file as its validation data (nothing is fitted on it) and
   without touching ``current``;
5. the **gate** (:mod:`training.gate`) compares both with
   :func:`training.evaluate.evaluate_predictor` on the frozen evaluation file and on the held-out
   recent feedback; the challenger is promoted (:func:`routing.versions.promote`) only if it
   passes, and not at all in a dry run;
6. the **report** (:mod:`training.retrain_report`) is written to ``reports/``.

Exit codes (:data:`PROMOTED`, :data:`KEPT`): 0 promoted (or a dry run that would promote),
3 the champion kept; the command line adds 2 for bad input and 1 for a failure.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from feedback import FeedbackStore, LabeledTicket, resolve_url
from preprocessing.datasets import LoadResult, load_tickets
from preprocessing.errors import TicketFileError
from preprocessing.pipeline import PreprocessSettings, clean_text, has_content
from preprocessing.sampling import merge_categories
from routing.bundle import CURRENT, BundleError, resolve_bundle_path
from routing.predictor import Predictor, load_predictor
from routing.versions import REPORTS_DIR, TRAINING_DATA_DIR, current_version, models_lock, promote
from training.config import TrainConfig
from training.evaluate import evaluate_predictor
from training.gate import GatePolicy, GateResult, decide
from training.retrain_report import EVAL, RECENT, EvaluationSet, build_report, summary_line, write_report
from training.run import train

#: Exit codes of a run that completed (see the module docstring).
PROMOTED, KEPT = 0, 3

#: Share of the labeled feedback held out as recent when neither rule is given.
DEFAULT_RECENT_FRACTION = 0.2


@dataclass(frozen=True)
class RetrainOptions:
    """One ``toiawase retrain`` run; serialises to JSON (:meth:`to_dict`).

    Attributes:
        models_dir: the models directory (champion, challenger, reports, lock).
        data: the base ticket file(s), in order (a later file's row wins over an earlier one).
        eval_file: the frozen labeled evaluation file.
        db_url: the feedback store's URL (``None``: ``$TOIAWASE_DB`` or the models directory's
            ``feedback.sqlite3``, :func:`feedback.resolve_url`).
        policy: the gate's allowances.
        recent_days: hold out the feedback of the last ``recent_days`` days (> 0), or
        recent_fraction: hold out the latest ``recent_fraction`` of the feedback, in (0, 1)
            (neither: :data:`DEFAULT_RECENT_FRACTION`).
        dry_run: evaluate and report, never promote.
        wait: wait for the lock instead of failing.
        keep_eval_questions: train on base and feedback questions that are also in the
            evaluation file (default: left out, so the frozen evaluation stays unseen).
        text_column, label_column, skip_bad_rows: how ticket files are read (as for ``train``).
        overrides: training settings replacing the champion's: :class:`TrainConfig` field names,
            with the network's under ``"model"`` (e.g. ``{"epochs": 3, "model": {"units": 8}}``).

    Raises:
        ValueError: no base file, both recent rules, or a rule out of range.
    """

    models_dir: str
    data: tuple[str, ...]
    eval_file: str
    db_url: str | None = None
    policy: GatePolicy = field(default_factory=GatePolicy)
    recent_days: float | None = None
    recent_fraction: float | None = None
    dry_run: bool = False
    wait: bool = False
    keep_eval_questions: bool = False
    text_column: str = "question"
    label_column: str = "category"
    skip_bad_rows: bool = False
    overrides: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("at least one base ticket file (--data) is needed")
        if self.recent_days is not None and self.recent_fraction is not None:
            raise ValueError("give --recent-days or --recent-fraction, not both")
        if self.recent_days is not None and not self.recent_days > 0:
            raise ValueError(f"--recent-days must be more than 0, not {self.recent_days}")
        if self.recent_fraction is not None and not 0 < self.recent_fraction < 1:
            raise ValueError(f"--recent-fraction must be between 0 and 1, not {self.recent_fraction}")

    @property
    def recent_rule(self) -> str:
        """The hold-out rule in words, e.g. ``"the latest 20% of the feedback"``."""
        if self.recent_days is not None:
            return f"the feedback of the last {self.recent_days:g} day(s)"
        return f"the latest {100 * (self.recent_fraction or DEFAULT_RECENT_FRACTION):g}% of the feedback"

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (the policy nested; the URL as given, see the report for the safe form)."""
        data = asdict(self)
        data["data"] = list(self.data)
        data["policy"] = self.policy.to_dict()
        data["overrides"] = dict(self.overrides)
        return data


@dataclass
class TrainingRow:
    """One row of the challenger's training data.

    Attributes:
        id: the ticket id (base file) or feedback id (store).
        question: the question as stored (raw from a file; masked from the store).
        category: its label.
        source: where the label came from: ``"<file>:<line>"`` or ``"feedback <action>"``.
        key: the normalized question (cleaned text) rows are merged by.
        origin: ``(file, line)`` for a base row (for error messages), ``None`` for feedback.
        answer: the team's reply from the base file (kept when feedback relabels the same
            question), for the bundle's similar tickets; ``None`` if there is none.
    """

    id: str
    question: str
    category: str
    source: str
    key: str
    origin: tuple[str, int] | None = None
    answer: str | None = None


@dataclass
class MergeSummary:
    """Counts of :func:`merge_training_rows`, for the report.

    Attributes:
        base_rows: rows read from the base files.
        base_duplicates: base rows replaced by a later base row with the same normalized
            question; ``base_conflicts`` of them had another label.
        feedback_rows: older feedback labels offered for training.
        feedback_duplicates: feedback labels replaced by a later one of the same normalized
            question (the store already collapses identical texts).
        feedback_new: final training rows from feedback whose question is not in the base files.
        feedback_overrides: base questions whose label the agents changed.
        feedback_same: base questions the agents labeled as the base file does.
        left_out: reason → ``{"base": n, "feedback": n}`` rows not trained on.
        rows: training rows written.
    """

    base_rows: int = 0
    base_duplicates: int = 0
    base_conflicts: int = 0
    feedback_rows: int = 0
    feedback_duplicates: int = 0
    feedback_new: int = 0
    feedback_overrides: int = 0
    feedback_same: int = 0
    left_out: dict[str, dict[str, int]] = field(default_factory=dict)
    rows: int = 0

    def leave_out(self, reason: str, source: str, count: int = 1) -> None:
        """Count ``count`` rows of ``source`` (``"base"`` or ``"feedback"``) not trained on for ``reason``."""
        bucket = self.left_out.setdefault(reason, {"base": 0, "feedback": 0})
        bucket[source] += count

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of the counts."""
        return asdict(self)


#: Reasons a row is left out of the challenger's training data.
IN_EVAL, IN_RECENT = "in the evaluation file", "in the recent feedback"
EMPTY, SYMBOLS, RARE = "empty after cleaning", "no words", "category with too few examples"


def normalized(question: str, settings: PreprocessSettings) -> str:
    """The text questions are merged and compared by: :func:`preprocessing.pipeline.clean_text`.

    NFKC, the masks (``<EMAIL>``...), digits → 0, whitespace collapsed, lower case: so a
    question and its masked copy in the feedback store are one question.

    Example:
        >>> settings = PreprocessSettings()
        >>> normalized("ﾊﾟｽﾜｰﾄﾞを忘れました　yamada@example.com", settings) == normalized("パスワードを忘れました <EMAIL>", settings)
        True
    """
    return clean_text(question, settings)


def merge_training_rows(
    base: Sequence[LoadResult],
    feedback: Sequence[LabeledTicket],
    settings: PreprocessSettings,
    *,
    exclude: Mapping[str, str] | None = None,
    skip_bad_rows: bool = False,
    keep_categories: Sequence[str] = (),
    other_label: str = "その他",
) -> tuple[list[TrainingRow], MergeSummary]:
    """Merge base tickets and feedback labels into one training set, one row per normalized question.

    Rules, in order:

    1. base rows, file by file, line by line; a question empty after cleaning is left out, one
       without words (only symbols, digits or placeholders) is a bad row (as in ``toiawase train``); a later row with the same
       normalized question replaces an earlier one (counted; a different label is a conflict);
    2. feedback labels, oldest first: a label replaces the base row or earlier feedback of the
       same normalized question (the agents' correction wins);
    3. questions in ``exclude`` (normalized question → reason) are left out, counted by reason;
    4. categories with fewer than two rows (after ``keep_categories`` merging, as training
       merges them) cannot be split for training: a bad row when a base row has one, else (a
       category only agents used, once) left out until more examples arrive.

    Args:
        base: the base files, loaded (``preprocessing.datasets.load_tickets``).
        feedback: labeled feedback, oldest first (``FeedbackStore.labeled_tickets``).
        settings: the preprocessing settings (the cleaning of :func:`normalized`).
        exclude: normalized questions not to train on, with why.
        skip_bad_rows: skip bad base rows (counted) instead of raising.
        keep_categories, other_label: the training configuration's category merge.

    Returns:
        (rows, summary): rows in first-seen order (base file order, then new feedback questions
        oldest first).

    Raises:
        TicketFileError: a base row without words, or a category with a single example
            (naming its base file and line), unless ``skip_bad_rows``.
    """
    exclude = exclude or {}
    summary = MergeSummary()
    rows: dict[str, TrainingRow] = {}
    base_labels: dict[str, str] = {}
    for loaded in base:
        summary.base_rows += len(loaded.tickets)
        for ticket in loaded.tickets:
            key = normalized(ticket.question, settings)
            if not key:
                summary.leave_out(EMPTY, "base")
                continue
            if not has_content(key):
                if not skip_bad_rows:
                    raise TicketFileError(loaded.path, ticket.line, f"question has no words (only symbols, digits or placeholders): {ticket.question[:40]!r}")
                summary.leave_out(SYMBOLS, "base")
                continue
            if key in exclude:
                summary.leave_out(exclude[key], "base")
                continue
            if key in rows:
                summary.base_duplicates += 1
                summary.base_conflicts += rows[key].category != ticket.category
            name = os.path.basename(loaded.path)
            rows[key] = TrainingRow(ticket.id, ticket.question, ticket.category or "", f"{name}:{ticket.line}", key, (loaded.path, ticket.line), ticket.answer)
            base_labels[key] = ticket.category or ""
    used_feedback: set[str] = set()
    for label in feedback:
        key = normalized(label.question, settings)
        if not key or not has_content(key):
            summary.leave_out(EMPTY if not key else SYMBOLS, "feedback")
            continue
        if key in exclude:
            summary.leave_out(exclude[key], "feedback")
            continue
        summary.feedback_rows += 1
        if key in used_feedback:
            summary.feedback_duplicates += 1
        used_feedback.add(key)
        base = rows.get(key)
        rows[key] = TrainingRow(label.id, label.question, label.category, f"feedback {label.action}", key, answer=base.answer if base else None)
    rows = _drop_rare(rows, summary, skip_bad_rows, tuple(keep_categories), other_label)
    for key in used_feedback & set(rows):
        if key not in base_labels:
            summary.feedback_new += 1
        elif base_labels[key] != rows[key].category:
            summary.feedback_overrides += 1
        else:
            summary.feedback_same += 1
    summary.rows = len(rows)
    return list(rows.values()), summary


def _drop_rare(rows: dict[str, TrainingRow], summary: MergeSummary, skip_bad_rows: bool, keep: tuple[str, ...], other: str) -> dict[str, TrainingRow]:
    """Rule 4 of :func:`merge_training_rows`."""
    keys = list(rows)
    labels = [rows[key].category for key in keys]
    if keep:
        labels = merge_categories(labels, keep, other, require_present=False)
    counts = Counter(labels)
    rare = {label for label, count in counts.items() if count < 2}
    if not rare:
        return rows
    kept: dict[str, TrainingRow] = {}
    for key, label in zip(keys, labels):
        row = rows[key]
        if label not in rare:
            kept[key] = row
            continue
        if row.origin is not None and not skip_bad_rows:
            path, line = row.origin
            raise TicketFileError(
                path, line,
                f"category {label!r} has only {counts[label]} example(s); each category needs at least 2 "
                "(add examples, merge it with --keep-categories, or drop it with --skip-bad-rows)",
            )
        summary.leave_out(RARE, "base" if row.origin is not None else "feedback")
    return kept


def write_training_rows(path: Path, rows: Sequence[TrainingRow], text_column: str = "question", label_column: str = "category") -> Path:
    """Write the training rows as a TSV with a header ``id, <text_column>, <label_column>, source, answer``.

    UTF-8, ``\\n`` line ends; tabs and line breaks inside a field become spaces. Written to
    ``<path>.tmp`` and renamed, so the file is complete or absent. Returns ``path``.
    """
    def one_line(text: str) -> str:
        return " ".join(text.replace("\t", " ").splitlines()) if ("\t" in text or "\n" in text or "\r" in text) else text

    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(("id", text_column, label_column, "source", "answer"))]
    lines += ["\t".join(one_line(value) for value in (row.id, row.question, row.category, row.source, row.answer or "")) for row in rows]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def split_recent(
    labeled: Sequence[LabeledTicket], *, now: datetime, days: float | None = None, fraction: float | None = None
) -> tuple[list[LabeledTicket], list[LabeledTicket]]:
    """Split labeled feedback by time into (older, recent), each oldest first.

    Args:
        labeled: the labels, any order.
        now: the run's time (aware), for ``days``.
        days: recent = given in the last ``days`` days (``created_at >= now - days``), or
        fraction: recent = the latest ``ceil(fraction * n)`` labels (ties in time broken by id).
            Neither: :data:`DEFAULT_RECENT_FRACTION`.

    Example:
        >>> t = lambda i: LabeledTicket(str(i), None, f"質問{i}", "配送", "confirm", datetime(2026, 11, i, tzinfo=timezone.utc))
        >>> older, recent = split_recent([t(3), t(1), t(2), t(4)], now=datetime(2026, 11, 5, tzinfo=timezone.utc), fraction=0.25)
        >>> [x.id for x in older], [x.id for x in recent]
        (['1', '2', '3'], ['4'])
        >>> [x.id for x in split_recent([t(3), t(1), t(2), t(4)], now=datetime(2026, 11, 5, tzinfo=timezone.utc), days=2)[1]]
        ['3', '4']
    """
    ordered = sorted(labeled, key=lambda label: (label.created_at, label.id))
    if days is not None:
        cutoff = now - timedelta(days=days)
        return [x for x in ordered if x.created_at < cutoff], [x for x in ordered if x.created_at >= cutoff]
    held = math.ceil((fraction if fraction is not None else DEFAULT_RECENT_FRACTION) * len(ordered))
    return ordered[: len(ordered) - held], ordered[len(ordered) - held:]


def collapse_recent(recent: Sequence[LabeledTicket], settings: PreprocessSettings) -> dict[str, LabeledTicket]:
    """The recent labels by normalized question, the latest winning (oldest first otherwise)."""
    collapsed: dict[str, LabeledTicket] = {}
    for label in recent:
        key = normalized(label.question, settings)
        collapsed.pop(key, None)
        collapsed[key] = label
    return collapsed


def challenger_config(champion: Predictor | None, overrides: Mapping) -> tuple[TrainConfig, str]:
    """The challenger's training configuration and where it came from, in words.

    The champion's ``train_config`` (defaults without a champion, or when it cannot be read by
    this version), with ``overrides`` applied (network settings under ``"model"``).

    Raises:
        TypeError: an unknown setting in ``overrides``.
        ValueError: a setting out of range (e.g. an unknown kind).
    """
    config, source = TrainConfig(), "the defaults (no champion)"
    if champion is not None:
        stored = champion.manifest.get("train_config")
        try:
            config, source = TrainConfig.from_dict(stored), f"the champion's ({champion.version})"
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            source = f"the defaults (the champion's train_config cannot be used: {error})"
    model = dict(overrides.get("model") or {})
    top = {key: value for key, value in overrides.items() if key != "model"}
    config = replace(config, model=replace(config.model, **model), **top)
    changes = [f"{key}={value}" for key, value in top.items()] + [f"model.{key}={value}" for key, value in model.items()]
    return config, source + (f", with {', '.join(changes)}" if changes else "")


@dataclass(frozen=True)
class RetrainOutcome:
    """What a run did.

    Attributes:
        exit_code: :data:`PROMOTED` (0) or :data:`KEPT` (3).
        decision: ``"promoted"``, ``"kept"``, ``"dry run: would promote"`` or ``"dry run: would keep"``.
        summary: the one line for cron (also in the report).
        champion: the champion's version (``None`` without one); challenger: the new bundle's.
        gate: the gate's result.
        report_md, report_json: the report files.
        training_file: the challenger's training data.
        report: the report's content (what ``report_json`` holds).
    """

    exit_code: int
    decision: str
    summary: str
    champion: str | None
    challenger: str
    gate: GateResult
    report_md: Path
    report_json: Path
    training_file: Path
    report: dict


def load_champion(models_dir: Path) -> tuple[Predictor | None, str | None]:
    """The bundle ``current`` points at, and why there is none (``(None, None)``: no ``current`` yet)."""
    if not (models_dir / CURRENT).is_symlink() and not (models_dir / CURRENT).exists():
        return None, None
    try:
        return load_predictor(resolve_bundle_path(models_dir)), None
    except BundleError as error:
        return None, str(error)


def retrain(options: RetrainOptions, *, log: Callable[[str], None] = lambda line: None, now: datetime | None = None) -> RetrainOutcome:
    """Run the whole loop (see the module docstring) and return what it did.

    Args:
        options: the run.
        log: where progress lines go (training's lines included; warnings start with ``warning:``).
        now: the run's time (aware; default: now, UTC): the feedback is read up to it.

    Raises:
        LockBusy: another command holds the lock (and ``options.wait`` is false).
        TicketFileError: an unreadable base or evaluation file (names file and line).
        StoreURLError, StoreOpenError: the feedback store cannot be opened.
        ValueError, TypeError: bad options or training settings, nothing to evaluate.
        BundleError: the challenger does not load.
    """
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    models = Path(options.models_dir)
    stamp = f"{now:%Y%m%d-%H%M%S}"
    with models_lock(models, "retrain", wait=options.wait):
        champion_link = current_version(models)
        champion, champion_error = load_champion(models)
        if champion_error:
            log(f"warning: the champion does not load, so there is nothing to compare with: {champion_error}")
        config, config_source = challenger_config(champion, options.overrides)
        settings = PreprocessSettings(token_form=config.token_form)
        reading = dict(text_column=options.text_column, label_column=options.label_column, skip_bad_rows=options.skip_bad_rows)
        base = [load_tickets(path, **reading) for path in options.data]
        evaluation = load_tickets(options.eval_file, **reading)
        eval_keys = [normalized(t.question, settings) for t in evaluation.tickets]
        if not any(has_content(key) for key in eval_keys):
            raise TicketFileError(options.eval_file, None, "no question with words left after cleaning; nothing to evaluate")
        url = resolve_url(options.db_url, models)
        with FeedbackStore.open(url) as store:
            labeled = store.labeled_tickets(until=now)
            store_name = store.url
        older, recent = split_recent(labeled, now=now, days=options.recent_days, fraction=options.recent_fraction)
        recent_by_key = collapse_recent(recent, settings)
        exclude = {key: IN_RECENT for key in recent_by_key}
        if not options.keep_eval_questions:
            exclude.update({key: IN_EVAL for key in eval_keys if key not in exclude})
        log(f"feedback: {len(labeled)} labeled question(s), {len(recent)} recent held out ({options.recent_rule})")
        rows, merge = merge_training_rows(
            base, older, settings, exclude=exclude, skip_bad_rows=options.skip_bad_rows,
            keep_categories=config.keep_categories, other_label=config.other_label,
        )
        training_file = write_training_rows(
            (models / TRAINING_DATA_DIR / f"{stamp}.tsv").resolve(), rows, options.text_column, options.label_column
        )
        log(f"training data: {len(rows)} question(s) in {training_file}")
        result = train(
            str(training_file), models, config, dev=options.eval_file, text_column=options.text_column,
            label_column=options.label_column, skip_bad_rows=options.skip_bad_rows, log=log, verbose=0, make_current=False,
        )
        challenger = load_predictor(result.bundle_path)
        sets = [_evaluate(os.path.basename(options.eval_file), EVAL, [t.question for t in evaluation.tickets],
                          [t.category or "" for t in evaluation.tickets], champion, challenger, None)]
        recent_questions = [label.question for label in recent_by_key.values()]
        recent_labels = [label.category for label in recent_by_key.values()]
        too_few = None if len(recent_questions) >= options.policy.min_recent else (
            f"{len(recent_questions)} question(s), fewer than {options.policy.min_recent}")
        sets.append(_evaluate("recent feedback", RECENT, recent_questions, recent_labels, champion, challenger, too_few))
        gated = {s.name: (s.champion, s.challenger) for s in sets if s.skipped is None and s.champion is not None}
        gate = decide(gated, options.policy, champion=champion is not None, skipped={s.name: s.skipped for s in sets if s.skipped})
        if champion is None and champion_error:
            gate = replace(gate, reason=f"the champion does not load ({champion_error}): the challenger is promoted")
        if gate.promote and not options.dry_run and current_version(models) != champion_link:
            gate = replace(gate, promote=False, reason=f"current changed during the run (now {current_version(models)}): not promoted")
        if gate.promote and not options.dry_run:
            promote(models, challenger.version)
        if options.dry_run:
            decision = "dry run: would promote" if gate.promote else "dry run: would keep"
        else:
            decision = "promoted" if gate.promote else "kept"
        exit_code = PROMOTED if gate.promote else KEPT
        stem = f"{stamp}-{challenger.version}"
        summary = summary_line(decision, champion.version if champion else None, challenger.version, sets, f"{REPORTS_DIR}/{stem}.md", gate)
        report = build_report(
            options=options, now=now, seconds=time.perf_counter() - started, decision=decision, exit_code=exit_code,
            summary=summary, champion=champion, champion_error=champion_error, challenger=challenger, config=config,
            config_source=config_source, base=base, evaluation=evaluation, store_url=store_name, labeled=len(labeled),
            older=older, recent=recent, merge=merge, training_file=training_file, sets=sets, gate=gate,
            training_seconds=result.seconds,
        )
        report_md, report_json = write_report(models / REPORTS_DIR, stem, report)
        return RetrainOutcome(exit_code, decision, summary, champion.version if champion else None, challenger.version, gate,
                              report_md, report_json, training_file, report)


def _evaluate(name: str, kind: str, questions: list[str], labels: list[str], champion: Predictor | None, challenger: Predictor,
              skipped: str | None) -> EvaluationSet:
    """Both models on one set (``evaluate_predictor``); an empty set or one of no content is skipped."""
    if not questions:
        return EvaluationSet(name, kind, questions, labels, None, None, skipped or "no questions")
    try:
        theirs = evaluate_predictor(challenger, questions, labels, misclassified=True)
        ours = evaluate_predictor(champion, questions, labels) if champion is not None else None
    except ValueError as error:
        if kind == EVAL:
            raise
        return EvaluationSet(name, kind, questions, labels, None, None, str(error))
    return EvaluationSet(name, kind, questions, labels, ours, theirs, skipped)
