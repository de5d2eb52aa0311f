"""PNG plots of a training run: training curves, the confusion matrix, the reliability diagram and
the risk–coverage curve of the review threshold (matplotlib).

Category names are Japanese, so a font with Japanese glyphs must be used; matplotlib's default
(DejaVu Sans) has none and draws empty boxes. :func:`japanese_font` picks the first installed of
the usual CJK families (Debian's fonts-ipafont-gothic or fonts-noto-cjk; the README's setup
installs one).

Figures are made with matplotlib's object-oriented API (``matplotlib.figure.Figure``, no
``pyplot``), so drawing needs no global backend choice and importing this module changes nothing.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

JAPANESE_FONTS: tuple[str, ...] = (
    "IPAexGothic",
    "IPAGothic",
    "IPAPGothic",
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "TakaoGothic",
    "VL Gothic",
)


# Where Debian installs the fonts above; used when matplotlib's font cache predates their install.
_FONT_GLOBS = ("/usr/share/fonts/opentype/ipafont-gothic/*.ttf", "/usr/share/fonts/opentype/noto/NotoSansCJK*")


def japanese_font() -> str | None:
    """Return the first installed font family of :data:`JAPANESE_FONTS`, or ``None``.

    matplotlib caches the font list on first use; a font installed later is registered here
    from Debian's font directories (``fontManager.addfont``).
    """
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    found = next((name for name in JAPANESE_FONTS if name in installed), None)
    if found is None:
        for path in sorted(p for pattern in _FONT_GLOBS for p in glob.glob(pattern)):
            font_manager.fontManager.addfont(path)
        installed = {font.name for font in font_manager.fontManager.ttflist}
        found = next((name for name in JAPANESE_FONTS if name in installed), None)
    return found


def _style() -> dict:
    family = japanese_font()
    if family is None:
        warnings.warn(
            "no Japanese font found (install Debian's fonts-ipafont-gothic); category names in plots will not render",
            stacklevel=3,
        )
        return {}
    return {"font.family": [family, "DejaVu Sans"]}


def plot_training_curves(history: dict[str, Sequence[float]], path: str | os.PathLike) -> None:
    """Write loss and accuracy per epoch (training and validation) as a PNG to ``path``.

    Args:
        history: Keras ``History.history``: lists ``loss``, ``accuracy``, ``val_loss``,
            ``val_accuracy``, one value per epoch.
        path: the PNG file to write.
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_style()):
        fig = Figure(figsize=(10, 4), dpi=100, layout="constrained")
        axes = fig.subplots(1, 2)
        epochs = np.arange(1, len(history.get("loss", [])) + 1)
        for ax, key, title in ((axes[0], "loss", "損失 (loss)"), (axes[1], "accuracy", "正解率 (accuracy)")):
            if key in history:
                ax.plot(epochs, history[key], marker="o", label="train")
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], marker="o", label="validation")
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend()
        fig.savefig(path)


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], categories: Sequence[str], path: str | os.PathLike) -> None:
    """Write the confusion matrix as a PNG: colour is the row-normalised share, text the count.

    Args:
        matrix: counts ``[k, k]``, rows true category, columns predicted (scikit-learn's layout).
        categories: the ``k`` category names in matrix order.
        path: the PNG file to write.
    """
    counts = np.asarray(matrix, dtype=np.int64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    k = len(categories)
    size = max(5.0, 0.55 * k + 2.5)
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_style()):
        fig = Figure(figsize=(size + 1, size), dpi=100, layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(k), labels=categories, rotation=45, ha="right")
        ax.set_yticks(range(k), labels=categories)
        ax.set_xlabel("予測 (predicted)")
        ax.set_ylabel("正解 (true)")
        fontsize = 9 if k <= 10 else 7
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    colour = "white" if shares[i, j] > 0.5 else "black"
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=colour, fontsize=fontsize)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="行ごとの割合 (row share)")
        fig.savefig(path)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * float(value):.1f}%"


def _no_data(ax, text: str = "データなし (no data)") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")


def plot_reliability_diagram(calibration: Mapping, path: str | os.PathLike) -> None:
    """Write the reliability diagram of the calibrated probabilities as a PNG to ``path``.

    Top: per equal-width confidence bin, the accuracy of its questions as a bar against the
    diagonal of perfect calibration (Guo et al. 2017, "On Calibration of Modern Neural
    Networks", Fig. 1); the uncalibrated bins, when given, as lighter markers at their mean
    confidence. Bottom: the share of questions per bin. Empty bins (``None``) are left out; with
    no question at all the axes say so.

    Args:
        calibration: ``metrics["calibration"]`` (:func:`training.evaluate.calibration_report`):
            ``"reliability"`` (and optionally ``"reliability_before"``), lists of
            ``{"lower", "upper", "count", "confidence", "accuracy"}`` (fractions in [0, 1]);
            ``"ece_after"``, ``"ece_before"`` and optionally ``"ece_temperature"`` (fractions or
            ``None``) for the legend; ``"bins"`` the bin count.
        path: the PNG file to write.
    """
    import matplotlib
    from matplotlib.figure import Figure

    after = list(calibration.get("reliability") or [])
    before = list(calibration.get("reliability_before") or [])
    with matplotlib.rc_context(_style()):
        fig = Figure(figsize=(6, 6.5), dpi=100, layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        top.plot([0, 1], [0, 1], linestyle="--", color="#888888", label="理想（完全に較正）")
        filled = [b for b in after if b.get("count") and b.get("accuracy") is not None]
        if filled:
            top.bar([b["lower"] for b in filled], [b["accuracy"] for b in filled],
                    width=[b["upper"] - b["lower"] for b in filled], align="edge",
                    color="#2f6fb3", edgecolor="#1d4a7a", alpha=0.85,
                    label=f"較正後 (ECE {_percent(calibration.get('ece_after'))})")
        earlier = [b for b in before if b.get("count") and b.get("accuracy") is not None and b.get("confidence") is not None]
        if earlier:
            top.plot([b["confidence"] for b in earlier], [b["accuracy"] for b in earlier], linestyle="none",
                     marker="o", color="#e08a2c", alpha=0.7, zorder=3,
                     label=f"較正前 (ECE {_percent(calibration.get('ece_before'))})")
        elif calibration.get("ece_before") is not None:
            top.plot([], [], linestyle="none", marker="o", color="#e08a2c", alpha=0.7, zorder=3,
                     label=f"較正前 (ECE {_percent(calibration.get('ece_before'))})")
        if calibration.get("ece_temperature") is not None:
            top.plot([], [], linestyle="none", label=f"温度スケーリングのみ (ECE {_percent(calibration['ece_temperature'])})")
        if not filled and not earlier:
            _no_data(top)
        top.set_xlim(0, 1)
        top.set_ylim(0, 1.02)
        top.set_ylabel("正解率 (accuracy)")
        top.set_title(f"信頼度の較正（{calibration.get('bins') or len(after) or 15} 区間）")
        top.grid(alpha=0.3)
        top.legend(loc="upper left", fontsize=9, framealpha=0.9)
        total = sum(b.get("count") or 0 for b in after)
        if total:
            bottom.bar([b["lower"] for b in after], [(b.get("count") or 0) / total for b in after],
                       width=[b["upper"] - b["lower"] for b in after], align="edge", color="#2f6fb3", alpha=0.85)
        total_before = sum(b.get("count") or 0 for b in before)
        if total_before:
            edges = [b["lower"] for b in before] + [before[-1]["upper"]]
            bottom.stairs([(b.get("count") or 0) / total_before for b in before], edges, color="#e08a2c")
        bottom.set_xlabel("確信度 (top probability)")
        bottom.set_ylabel("件数の割合")
        bottom.set_ylim(0, None if total or total_before else 1)
        bottom.grid(alpha=0.3)
        fig.savefig(path)


def plot_risk_coverage(review: Mapping, path: str | os.PathLike) -> None:
    """Write the risk–coverage curve of the review threshold as a PNG to ``path``.

    For each threshold of the stored curve: the share of questions routed automatically (x,
    coverage) and the accuracy of those (y), as in Geifman & El-Yaniv 2017 ("Selective
    Classification for Deep Neural Networks", with accuracy instead of risk = 1 − accuracy).
    The chosen operating point is marked and the target precision drawn as a horizontal line.
    Points without an accuracy (nothing routed) are left out; an empty curve draws "no data".

    Args:
        review: ``bundle.json["review"]`` (:func:`training.calibrate.fit_confidence`):
            ``"curve": [[threshold, coverage, accuracy | None], ...]``, ``"threshold"``,
            ``"target_precision"``, ``"holdout_coverage"``, ``"holdout_accuracy"`` (fractions in
            [0, 1] or ``None``).
        path: the PNG file to write.
    """
    import matplotlib
    from matplotlib.figure import Figure

    points = [(c, a) for _, c, a in (review.get("curve") or []) if c is not None and a is not None]
    target = review.get("target_precision")
    coverage, accuracy = review.get("holdout_coverage"), review.get("holdout_accuracy")
    with matplotlib.rc_context(_style()):
        fig = Figure(figsize=(6.5, 4.5), dpi=100, layout="constrained")
        ax = fig.subplots()
        if points:
            ax.plot([c for c, _ in points], [a for _, a in points], color="#2f6fb3", marker=".", markersize=3,
                    label="しきい値ごと（学習時の holdout）")
        else:
            _no_data(ax)
        if target is not None:
            ax.axhline(target, color="#b42318", linestyle="--", label=f"目標の正解率 {_percent(target)}")
        if coverage is not None and accuracy is not None:
            threshold = review.get("threshold")
            ax.plot([coverage], [accuracy], marker="o", markersize=10, color="#1a7f52", linestyle="none",
                    label=f"動作点：しきい値 {_percent(threshold)}、{_percent(coverage)} を {_percent(accuracy)} で自動振り分け")
        lows = [a for _, a in points] + [v for v in (target, accuracy) if v is not None]
        ax.set_ylim(max(0.0, min(lows) - 0.05) if lows else 0.0, 1.01)
        ax.set_xlim(0, 1.01)
        ax.set_xlabel("自動で振り分ける割合 (coverage)")
        ax.set_ylabel("自動振り分け分の正解率 (accuracy)")
        ax.set_title("要確認への振り分け：カバー率と正解率")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower left", fontsize=9)
        fig.savefig(path)
