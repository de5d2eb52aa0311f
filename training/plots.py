"""PNG plots of a training run: training curves and the confusion matrix (matplotlib).

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
from collections.abc import Sequence

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
