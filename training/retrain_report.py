"""The report of a ``toiawase retrain`` run: JSON for machines, Markdown for people, one summary line.

Written beside the models (:func:`write_report`)::

    models/reports/<run time>-<challenger version>.json   everything below, numbers unrounded
    models/reports/<run time>-<challenger version>.md     the same for people (the /model page links it)
    models/reports/latest.json → …   latest.md → …        symlinks to the newest run's files

The report names files by their base name only (no server paths): the web app serves the
Markdown. Questions are shown masked (:func:`mask`). Contents: the decision and each gate rule's outcome; both models side by side on each
evaluation set (accuracy, macro-F1, ECE after calibration, coverage: the share routed without
review, overlap: the share of the set that is the model's own training questions); per-category
precision/recall/F1 with the challenger's change; where the training data came from; the
challenger's misclassified evaluation questions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from preprocessing.cleaning import DEFAULT_RULES, clean
from routing.bundle import replace_link

if TYPE_CHECKING:  # only for annotations
    from training.gate import GateResult

#: The kinds of evaluation set of a re-training run: the evaluation file, the recent feedback.
EVAL, RECENT = "eval", "recent"


@dataclass(frozen=True)
class EvaluationSet:
    """One evaluation set of a run, and both models' metrics on it.

    Attributes:
        name: as the report names it (the file's name, or ``"recent feedback"``).
        kind: :data:`EVAL` or :data:`RECENT`.
        questions, labels: the labeled questions.
        champion: ``evaluate_predictor`` of the champion (``None`` without one).
        challenger: ``evaluate_predictor`` of the challenger, with ``misclassified``.
        skipped: why the set is not gated (``None`` when it is).
    """

    name: str
    kind: str
    questions: list[str]
    labels: list[str]
    champion: dict | None
    challenger: dict | None
    skipped: str | None = None


#: Version of the report's JSON layout.
REPORT_FORMAT = 1

#: Misclassified questions listed per evaluation set in the Markdown (the JSON has all).
MARKDOWN_EXAMPLES = 100

LATEST = "latest"

#: The cleaning rules that mask what identifies a customer (URLs, e-mail addresses, order and
#: phone numbers), applied to every question a report shows: reports are kept and served, and
#: hold no more personal data than the feedback store does (digits and the rest are kept).
MASKS = tuple(rule for rule in DEFAULT_RULES if rule.name in ("control", "url", "email", "order", "phone", "whitespace"))


def mask(question: str) -> str:
    """``question`` with URLs, e-mail addresses, order and phone numbers masked (NFKC applied).

    Example:
        >>> mask("注文番号：AB-12345678 の件、yamada@example.com まで 090-1234-5678")
        '<ORDER> の件、 <EMAIL> まで <TEL>'
    """
    return clean(question, MASKS)


def model_summary(metrics: dict | None) -> dict | None:
    """The headline numbers of one ``evaluate_predictor`` result (``None`` stays ``None``).

    Returns:
        ``{"n", "accuracy", "macro_f1", "ece", "coverage", "auto_accuracy", "overlap"}``:
        ``ece`` is the expected calibration error after calibration, ``coverage`` the share
        routed without review, ``overlap`` ``{"questions", "share"}`` or ``None`` (unknown).
    """
    if metrics is None:
        return None
    return {
        "n": metrics["n"],
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "ece": metrics["calibration"]["ece_after"],
        "coverage": metrics["review"]["coverage"],
        "auto_accuracy": metrics["review"]["auto_accuracy"],
        "overlap": metrics.get("overlap"),
    }


def per_category(champion: dict | None, challenger: dict) -> list[dict]:
    """Per category (the challenger's order, then categories only the champion has, with support > 0 or routed):
    ``{"category", "support", "champion": {precision, recall, f1} | None, "challenger": {...}}``."""
    theirs = challenger["per_category"]
    ours = (champion or {}).get("per_category", {})
    names = list(theirs) + [name for name in ours if name not in theirs]
    rows = []
    for name in names:
        pick = lambda table: {k: table[name][k] for k in ("precision", "recall", "f1")} if name in table else None  # noqa: E731
        rows.append({
            "category": name,
            "support": max(int(theirs.get(name, {}).get("support", 0)), int(ours.get(name, {}).get("support", 0))),
            "champion": pick(ours) if champion is not None else None,
            "challenger": pick(theirs),
        })
    return rows


def _figures(sets: Sequence[EvaluationSet]) -> str:
    """``macro-F1 0.9012 → 0.9050 on dev.tsv, 0.8800 → 0.9100 on 312 recent feedback`` (as available)."""
    parts = []
    for s in sets:
        where = s.name if s.kind == "eval" else f"{len(s.questions)} recent feedback"
        if s.challenger is None:
            parts.append(f"{where}: {s.skipped}")
            continue
        numbers = f"{s.champion['macro_f1']:.4f} → {s.challenger['macro_f1']:.4f}" if s.champion else f"{s.challenger['macro_f1']:.4f}"
        parts.append(f"{numbers} on {where}" + (" (not gated: too few)" if s.skipped else ""))
    return "macro-F1 " + ", ".join(parts)


def summary_line(decision: str, champion: str | None, challenger: str, sets: Sequence[EvaluationSet], report: str, gate: GateResult) -> str:
    """The one line ``toiawase retrain`` prints on stdout, e.g.

    ``retrain: promoted 20261122-020135-ab12cd over 20261121-020131-cd34ef (macro-F1 0.9012 → 0.9050
    on dev.tsv, 0.8800 → 0.9100 on 312 recent feedback); report reports/….md``

    or, when the champion is kept, ``retrain: kept <champion>; challenger <version> refused:
    <the first failed rule> [and N more rule(s)] (<figures>); report …``.
    """
    if champion is None:
        subject = f"{challenger}, no champion before"
    elif not gate.promote:
        failed = gate.failed
        why = failed[0].describe() + (f" and {len(failed) - 1} more rule(s)" if len(failed) > 1 else "") if failed else gate.reason
        subject = f"{champion}; challenger {challenger} refused: {why}"
    else:
        subject = f"{challenger} over {champion}"
    return f"retrain: {decision} {subject} ({_figures(sets)}); report {report}"


def build_report(
    *,
    options,
    now: datetime,
    seconds: float,
    decision: str,
    exit_code: int,
    summary: str,
    champion,
    champion_error: str | None,
    challenger,
    config,
    config_source: str,
    base,
    evaluation,
    store_url: str,
    labeled: int,
    older,
    recent,
    merge,
    training_file: Path,
    sets: Sequence[EvaluationSet],
    gate,
    training_seconds: float,
) -> dict:
    """The report's content (see :mod:`training.retrain`'s ``retrain`` for the arguments), JSON-serialisable."""
    def model(predictor) -> dict | None:
        if predictor is None:
            return None
        data = predictor.metrics.get("data") or {}
        train_file = predictor.manifest.get("train_file") or data.get("train_file")
        return {
            "version": predictor.version,
            "kind": predictor.kind,
            "created_at": predictor.created_at,
            "train_file": os.path.basename(train_file) if train_file else None,
            "train_rows": sum((data.get("file_counts") or {}).values()) or None,
            "temperature": predictor.temperature,
            "review_threshold": predictor.review.threshold,
        }

    return {
        "format": REPORT_FORMAT,
        "run_at": now.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "training_seconds": round(training_seconds, 1),
        "decision": decision,
        "exit_code": exit_code,
        "dry_run": options.dry_run,
        "summary": summary,
        "champion": model(champion),
        "champion_error": champion_error,
        "challenger": model(challenger),
        "train_config": config.to_dict(),
        "train_config_source": config_source,
        "policy": options.policy.to_dict(),
        "data": {
            "base_files": [{"file": os.path.basename(loaded.path), "rows": len(loaded.tickets), "skipped": len(loaded.skipped)} for loaded in base],
            "eval_file": {"file": os.path.basename(evaluation.path), "rows": len(evaluation.tickets), "skipped": len(evaluation.skipped)},
            "feedback": {
                "store": store_url,
                "until": now.isoformat(timespec="seconds"),
                "labeled": labeled,
                "older": len(older),
                "recent": len(recent),
                "recent_rule": options.recent_rule,
                "recent_since": recent[0].created_at.isoformat(timespec="seconds") if recent else None,
            },
            "merge": merge.to_dict(),
            "training_file": training_file.name,
            "keep_eval_questions": options.keep_eval_questions,
        },
        "evaluations": [
            {
                "name": s.name,
                "kind": s.kind,
                "questions": len(s.questions),
                "gated": s.skipped is None and s.champion is not None,
                "skipped": s.skipped,
                "champion": model_summary(s.champion),
                "challenger": model_summary(s.challenger),
                "per_category": per_category(s.champion, s.challenger) if s.challenger else [],
                "misclassified": [{**item, "question": mask(item["question"])} for item in (s.challenger or {}).get("misclassified", [])],
            }
            for s in sets
        ],
        "gate": gate.to_dict(),
    }


# -- Markdown ------------------------------------------------------------------------------------


def _cell(text: object) -> str:
    """A Markdown table cell: one line, ``|`` escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _number(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _delta(ours: float | None, theirs: float | None) -> str:
    return "–" if ours is None or theirs is None else f"{theirs - ours:+.4f}"


def _overlap(summary: dict | None) -> str:
    if summary is None:
        return "–"
    found = summary.get("overlap")
    return "unknown" if found is None else f"{found['questions']} ({found['share']:.1%})"


def render_markdown(report: dict) -> str:
    """The report as Markdown (tables in GitHub's pipe syntax; readable as plain text too)."""
    champion, challenger = report["champion"], report["challenger"]
    lines = [f"# Re-training report {report['run_at']}", ""]
    lines.append(f"**Decision: {report['decision']}** (exit status {report['exit_code']}). {report['gate']['reason']}.")
    lines += ["", f"`{report['summary']}`", ""]
    lines += ["| | champion | challenger |", "|---|---|---|"]
    for label, key in (("version", "version"), ("kind", "kind"), ("trained", "created_at"), ("training data", "train_file"), ("training rows", "train_rows")):
        lines.append(f"| {label} | {_cell((champion or {}).get(key, '–') or '–')} | {_cell(challenger.get(key) or '–')} |")
    if report["champion_error"]:
        lines.append(f"\nThe champion does not load: {_cell(report['champion_error'])}")
    lines += ["", f"Training configuration: {report['train_config_source']}; {report['training_seconds']} s of training, "
              f"{report['seconds']} s in all.", ""]

    data = report["data"]
    feedback, merge = data["feedback"], data["merge"]
    lines += ["## Data", ""]
    for base in data["base_files"]:
        lines.append(f"* base file {base['file']}: {base['rows']} rows" + (f" ({base['skipped']} unreadable rows skipped)" if base["skipped"] else ""))
    lines.append(f"* base duplicates collapsed (same normalized question, the later row kept): {merge['base_duplicates']}, "
                 f"{merge['base_conflicts']} of them with another label")
    lines.append(f"* feedback: {feedback['labeled']} labeled questions up to {feedback['until']}; {feedback['recent']} recent held out "
                 f"({feedback['recent_rule']}" + (f", since {feedback['recent_since']}" if feedback["recent_since"] else "") + "), "
                 f"{feedback['older']} older offered for training")
    lines.append(f"* feedback trained on: {merge['feedback_new']} new questions, {merge['feedback_overrides']} base labels corrected, "
                 f"{merge['feedback_same']} base labels confirmed ({merge['feedback_duplicates']} repeated questions collapsed)")
    for reason, counts in merge["left_out"].items():
        lines.append(f"* left out, {reason}: {counts['base']} base rows, {counts['feedback']} feedback questions")
    lines.append(f"* training data: {merge['rows']} questions ({data['training_file']}); evaluation file {data['eval_file']['file']}: "
                 f"{data['eval_file']['rows']} rows")
    lines.append("")

    for evaluation in report["evaluations"]:
        lines += [f"## Evaluation on {evaluation['name']} ({evaluation['questions']} questions)", ""]
        if evaluation["challenger"] is None:
            lines += [f"Skipped: {evaluation['skipped']}.", ""]
            continue
        if evaluation["skipped"]:
            lines += [f"Not gated: {evaluation['skipped']}.", ""]
        ours, theirs = evaluation["champion"], evaluation["challenger"]
        lines += ["| model | accuracy | macro-F1 | ECE | coverage | overlap with its training data |", "|---|---|---|---|---|---|"]
        for label, summary in (("champion", ours), ("challenger", theirs)):
            if summary is None:
                continue
            lines.append(f"| {label} | {_number(summary['accuracy'])} | {_number(summary['macro_f1'])} | {_number(summary['ece'])} | "
                         f"{_number(summary['coverage'])} | {_overlap(summary)} |")
        if ours is not None:
            lines.append(f"| change | {_delta(ours['accuracy'], theirs['accuracy'])} | {_delta(ours['macro_f1'], theirs['macro_f1'])} | "
                         f"{_delta(ours['ece'], theirs['ece'])} | {_delta(ours['coverage'], theirs['coverage'])} | |")
        lines += ["", "| category | support | precision | recall | F1 |", "|---|---|---|---|---|"]
        for row in evaluation["per_category"]:
            cells = []
            for metric in ("precision", "recall", "f1"):
                new = (row["challenger"] or {}).get(metric)
                old = (row["champion"] or {}).get(metric) if row["champion"] is not None else None
                cells.append(_number(new) if ours is None else f"{_number(old)} → {_number(new)} ({_delta(old, new)})")
            lines.append(f"| {_cell(row['category'])} | {row['support']} | " + " | ".join(cells) + " |")
        lines.append("")

    gate = report["gate"]
    lines += ["## Decision rules", ""]
    policy = report["policy"]
    lines.append(f"Allowances: macro-F1 may fall by at most {policy['max_drop']:.4f}, a category's recall by at most "
                 f"{policy['max_category_drop']:.4f} (categories with at least {policy['min_category_support']} questions); "
                 f"recent feedback is gated from {policy['min_recent']} questions.")
    lines.append("")
    if gate["checks"]:
        lines += ["| rule | evaluation | champion | challenger | drop | allowed | outcome |", "|---|---|---|---|---|---|---|"]
        for check in gate["checks"]:
            rule = "macro-F1" if check["rule"] == "macro_f1" else f"recall of {_cell(check['category'])} ({check['support']})"
            outcome = ("pass" if check["passed"] else "**FAIL**") if check["gated"] else "not gated (too few)"
            lines.append(f"| {rule} | {_cell(check['evaluation'])} | {check['champion']:.4f} | {check['challenger']:.4f} | "
                         f"{check['drop']:+.4f} | {check['allowance']:.4f} | {outcome} |")
    else:
        lines.append("No rule checked: " + gate["reason"] + ".")
    for name, why in gate["skipped"].items():
        lines.append(f"\n{_cell(name)}: not gated ({why}).")
    lines.append("")

    lines += ["## Misclassified by the challenger", ""]
    for evaluation in report["evaluations"]:
        wrong = evaluation["misclassified"]
        if evaluation["challenger"] is None:
            continue
        lines += [f"### {evaluation['name']}: {len(wrong)} of {evaluation['challenger']['n']}", ""]
        if not wrong:
            continue
        lines += ["| question | true | predicted | probability |", "|---|---|---|---|"]
        for item in wrong[:MARKDOWN_EXAMPLES]:
            lines.append(f"| {_cell(item['question'])} | {_cell(item['true'])} | {_cell(item['predicted'])} | {item['probability']:.4f} |")
        if len(wrong) > MARKDOWN_EXAMPLES:
            lines.append(f"\n… and {len(wrong) - MARKDOWN_EXAMPLES} more (all in the JSON report).")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_report(directory: Path, stem: str, report: dict) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``directory`` and point ``latest.*`` at them.

    Each file is written aside and renamed (complete or absent); the ``latest`` symlinks are
    swapped atomically (:func:`routing.bundle.replace_link`).

    Returns:
        (Markdown path, JSON path).
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for suffix, text in (("json", json.dumps(report, ensure_ascii=False, indent=2) + "\n"), ("md", render_markdown(report))):
        path = directory / f"{stem}.{suffix}"
        tmp = directory / f".{stem}.{suffix}.{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        replace_link(directory, f"{LATEST}.{suffix}", path.name)
        paths[suffix] = path
    return paths["md"], paths["json"]
