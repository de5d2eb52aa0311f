"""The HTML pages: the question form ``/``, the model page ``/model``, its plots and the latest re-training report.

The form posts back to ``/`` (no redirect) so the question stays in the textarea; the answer is
logged (:mod:`webapp.feedback_store`) and carries the feedback forms (:mod:`webapp.feedback_pages`). A question
that needs review (:mod:`routing.review`) is shown as 「要確認：担当者が振り分けてください」 with
the reason and its candidates instead of a confident answer. Without a loaded model every page says how to train
one, with status 503.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, g, render_template, request, send_file
from werkzeug.wrappers import Response

from routing.bundle import PLOTS
from routing.evidence import Evidence
from routing.predictor import Predictor
from routing.review import REASONS
from routing.versions import REPORTS_DIR
from webapp.errors import AppError
from webapp.feedback_pages import forms_for
from webapp.feedback_store import log_predictions, store_state
from webapp.guards import requires_model
from webapp.model_loading import model_state
from webapp.questions import check_question, review_threshold, route_documents, similar_tickets, token_evidence

bp = Blueprint("pages", __name__)

#: Candidates shown on the form page.
PAGE_TOP_K = 3
#: Similar past tickets shown on the form page.
PAGE_SIMILAR = 3
#: Highlight colours (RGB) of tokens that raise / lower the predicted category's probability.
RAISES_RGB = (26, 127, 82)
LOWERS_RGB = (180, 35, 24)

#: Why a question needs review, as the form says it (keys: routing.review.REASONS).
REASON_TEXTS = {
    "no_content": "質問に言葉が含まれていません（記号・数字・URL などだけです）。",
    "out_of_scope": "学習したどのカテゴリの質問とも似ていません（想定外の質問の可能性があります）。",
    "ambiguous": "上位の候補カテゴリの確率が拮抗しています。",
    "low_confidence": "最も確からしいカテゴリでも確率がしきい値を下回っています。",
}

#: Short names of the review reasons for the model page's table (keys: routing.review.REASONS).
REASON_LABELS = {
    "no_content": "内容なし",
    "out_of_scope": "対象外",
    "ambiguous": "候補が拮抗",
    "low_confidence": "確信度が低い",
}

#: Alt text and caption of each plot of :data:`routing.bundle.PLOTS` on the model page.
FIGURES = {
    "training_curves.png": ("学習曲線（エポックごとの損失と正解率）", "学習曲線"),
    "confusion_matrix.png": ("混同行列（行：正解カテゴリ、列：予測カテゴリ）", "混同行列（検証データ）"),
    "reliability_diagram.png": (
        "信頼度図（横軸：確信度の区間、縦軸：その区間の正解率。対角線に近いほど確率が信頼できる）",
        "信頼度図（検証データ、較正前と較正後）",
    ),
    "risk_coverage.png": (
        "カバー率と正解率の曲線（横軸：自動で振り分ける割合、縦軸：その正解率。丸が選ばれたしきい値）",
        "しきい値ごとの自動振り分けの割合と正解率（学習時の holdout）",
    ),
}
#: Plots shown in their own card of the model page rather than in the card of figures.
CARD_FIGURES = {"reliability_diagram.png": "calibration", "risk_coverage.png": "review"}

#: How each model kind is named on the pages.
MODEL_LABELS = {"lstm": "LSTM", "tfidf": "TF-IDF＋ロジスティック回帰", "hybrid": "LSTM＋n-gram線形モデル"}


@bp.route("/", methods=("GET", "POST"))
@requires_model
def index() -> tuple[str, int] | str:
    """The question form (GET) and its answer (POST, form field ``question``).

    A bad question (empty, too long, NUL) is shown as a message on the form, with status 400; a
    question that needs review (no words, out of scope, ambiguous, low confidence) is answered
    「要確認」 with the reason and the candidates. The question is cleaned and tokenized once, for the routing and for the
    "seen text" section alike.
    """
    predictor = g.predictor
    context = {
        "predictor": predictor,
        "question": "",
        "prediction": None,
        "analysis": None,
        "feedback": None,
        "similar": [],
        "evidence": [],
        "error": None,
        "threshold": review_threshold(predictor),
        "reason_texts": REASON_TEXTS,
        "max_chars": current_app.config["MAX_QUESTION_CHARS"],
    }
    if request.method in ("GET", "HEAD"):  # HEAD answers like GET, without the body (RFC 9110 §9.3.2)
        return render_template("index.html", **context)
    question = request.form.get("question", "")
    context["question"] = question
    try:
        check_question(question)
        document = predictor.prepare(question)
        prediction = route_documents(predictor, [document], PAGE_TOP_K)[0]
        context["prediction"] = prediction
        analysis = predictor.analyze(document)
        context["analysis"] = analysis
        context["tokens"] = list(zip(analysis.tokens, analysis.out_of_vocabulary))
        context["similar"] = similar_tickets(predictor, document, prediction, PAGE_SIMILAR)
        context["evidence"] = highlighted(token_evidence(predictor, document, prediction))
        [prediction_id] = log_predictions(predictor, [question], [prediction], source="form")
        context["feedback"] = forms_for(predictor, prediction, prediction_id, store_state().store is not None)
    except AppError as error:
        context["error"] = error
        return render_template("index.html", **context), error.code
    return render_template("index.html", **context)


def highlighted(evidence: list[Evidence]) -> list[dict]:
    """How the form shows each token's effect: ``{"token", "effect", "style", "title", "sign"}``.

    The background is :data:`RAISES_RGB` for a positive effect and :data:`LOWERS_RGB` for a
    negative one, with opacity ``0.1 + 0.6 · |effect| / largest |effect|`` of the question (no
    colour for an effect of 0 or ``None``); ``title`` (shown on hover) gives the effect in
    percentage points of the predicted category's probability.
    """
    largest = max((abs(e.effect) for e in evidence if e.effect is not None), default=0.0)
    shown = []
    for item in evidence:
        effect = item.effect
        style, sign = "", "none"
        if effect is not None and effect != 0 and largest > 0:
            sign = "raises" if effect > 0 else "lowers"
            red, green, blue = RAISES_RGB if effect > 0 else LOWERS_RGB
            style = f"background-color: rgba({red}, {green}, {blue}, {0.1 + 0.6 * abs(effect) / largest:.2f})"
        if effect is None:
            title = "未計測（長い質問の後半）"
        else:
            title = f"影響 {100 * effect:+.1f} ポイント（この語を除くと確率が {abs(100 * effect):.1f} ポイント{'下がる' if effect >= 0 else '上がる'}）"
        shown.append({"token": item.token, "effect": effect, "style": style, "title": title, "sign": sign})
    return shown


@bp.get("/model")
@requires_model
def model_page() -> str:
    """The loaded model: the model vs the TF-IDF baseline, per-category table, calibration, review
    routing (its operating point), confusion matrix, curves.

    The top-label scaling shown is the one the predictor applies (``bundle.json``, validated at
    load), not a copy from ``metrics.json``. The calibration card needs ``metrics["calibration"]``, the review card ``metrics["review"]``
    or ``bundle.json["review"]``; a bundle without them (older formats) shows neither card, and
    only the plot files the bundle holds are shown.
    """
    predictor = g.predictor
    metrics = predictor.metrics
    baselines = metrics.get("baselines") or {}
    baseline = baselines.get("tfidf_word_logreg") or next(iter(baselines.values()), {})
    figures = {name: dict(zip(("name", "alt", "caption"), (name, *FIGURES.get(name, (name, name))))) for name in PLOTS if predictor.plot_path(name)}
    return render_template(
        "model.html", predictor=predictor, model_label=MODEL_LABELS.get(predictor.kind, predictor.kind), metrics=metrics,
        baseline=baseline, plots=[f for name, f in figures.items() if name not in CARD_FIGURES],
        card_figures={CARD_FIGURES[name]: f for name, f in figures.items() if name in CARD_FIGURES},
        calibration=metrics.get("calibration") or {}, review=metrics.get("review") or {},
        top_label=predictor.calibration.top_label if predictor.calibration.scales_top else None,
        holdout=predictor.manifest.get("review") or {}, holdout_calibration=predictor.manifest.get("calibration") or {},
        reasons=[(reason, REASON_LABELS[reason], REASON_TEXTS[reason]) for reason in REASONS],
        threshold=review_threshold(predictor), has_report=latest_report(predictor) is not None,
    )


def latest_report(predictor: Predictor | None) -> Path | None:
    """The newest ``toiawase retrain`` report (``reports/latest.md`` beside the loaded bundle), if any."""
    if predictor is None:
        return None
    path = predictor.path.parent / REPORTS_DIR / "latest.md"
    return path if path.is_file() else None


@bp.get("/model/report")
def retrain_report() -> Response:
    """The latest re-training report, as UTF-8 Markdown text (``text/plain``: shown as is, nothing runs).

    Raises:
        NotFound: without a model or a report.
    """
    path = latest_report(model_state().predictor)
    if path is None:
        abort(404)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")  # a damaged byte shows as U+FFFD, not a 500
    except OSError:
        abort(404)
    response = Response(text, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/model/plots/<name>")
def plot(name: str) -> Response:
    """A plot PNG of the loaded bundle (one of :data:`routing.bundle.PLOTS`).

    Raises:
        NotFound: for another name, a bundle without that plot, or no model (an image URL
            answers 404, not the "no model" page).
    """
    predictor = model_state().predictor
    path = predictor.plot_path(name) if predictor else None
    if path is None:
        abort(404)
    # The URL carries ?v=<version>, so a new bundle's plots are not read from a stale cache.
    return send_file(path, mimetype="image/png", max_age=3600)
