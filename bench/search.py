"""Hyperparameter search (Optuna) of kind ``hybrid``'s linear n-gram member, on the training holdout.

Usage::

    PYTHONPATH=. .venv/bin/python bench/search.py --data-root ../shared/data --trials 20 --update BENCHMARKS.md

For each data set (``<data-root>/<name>/train.tsv`` and ``dev.tsv``):

1. :func:`training.data.load_training_data` loads and splits the data exactly as ``toiawase
   train --dev dev.tsv`` does with the default :class:`training.config.TrainConfig` and
   ``--seed``: the fit part and the stratified holdout of the training file
   (:func:`training.data.split_holdout`); the dev file is loaded but not looked at until the end;
2. an Optuna study (TPE sampler, ``seed=--seed``; Optuna docs, ``optuna.samplers.TPESampler``)
   maximises the holdout macro-F1 (:func:`training.evaluate.evaluate_predictions`) of the n-gram
   member alone, fitted with the project's own code (:func:`training.fit_hybrid.fit_featurizer`,
   :func:`training.fit_hybrid.fit_linear`) over: ``LinearSVC`` ``C`` log-uniform in [0.05, 5],
   ``class_weight`` balanced / None, word n-grams (1, 1..3), char n-grams (1, 3..5),
   ``min_df`` 1..3. The LSTM member is not searched (it takes minutes per fit);
3. the best trial and the default configuration (``TrainConfig()``'s n-gram member) are fitted on
   the same fit part and scored once on dev.

Scores are those of the member's argmax on every question (scikit-learn's features; a question
without n-grams gets the intercepts' argmax), not of the served hybrid. Defaults are not changed.
With ``--update``, the section "Hyperparameter search (Optuna)" of that Markdown file is
replaced (or appended).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import optuna  # noqa: E402

from preprocessing.pipeline import PreprocessSettings  # noqa: E402
from routing.ngrams import NgramConfig  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.data import Examples, TrainingData, load_training_data  # noqa: E402
from training.evaluate import evaluate_predictions  # noqa: E402
from training.fit_hybrid import fit_featurizer, fit_linear, stacked_features  # noqa: E402

SECTION = "## Hyperparameter search (Optuna)"

#: The search space, in words (for the report).
SPACE = (
    "LinearSVC C log-uniform [0.05, 5]; class_weight balanced / None; word n-grams (1, 1..3); "
    "char n-grams (1, 3..5); min_df 1..3"
)


def member_config(params: dict, seed: int) -> TrainConfig:
    """The ``TrainConfig`` of an Optuna trial's ``params`` (other fields at their defaults).

    ``params`` keys: ``C`` (float), ``class_weight`` (``"balanced"`` or ``"none"``), ``word_high``,
    ``char_high``, ``min_df`` (ints).
    """
    weight = None if params["class_weight"] == "none" else params["class_weight"]
    ngrams = NgramConfig(word_ngrams=(1, params["word_high"]), char_ngrams=(1, params["char_high"]), min_df=params["min_df"])
    return TrainConfig(ngrams=ngrams, linear_c=params["C"], linear_class_weight=weight, seed=seed)


def member_macro_f1(config: TrainConfig, fit: Examples, scored: Examples, categories: list[str]) -> dict:
    """Fit the n-gram member of ``config`` on ``fit``; return its metrics on ``scored``.

    Returns:
        :func:`training.evaluate.evaluate_predictions` of the member's argmax, plus
        ``"features"`` (number of n-grams kept) and ``"seconds"`` (fit and scoring time).

    Raises:
        ValueError: as :func:`training.fit_hybrid.fit_featurizer` / ``fit_linear``.
    """
    started = time.perf_counter()
    featurizer, vectorizers, features = fit_featurizer(config.ngrams, fit.tokens, fit.cleaned)
    coef, intercept = fit_linear(features, fit.labels, categories, config)
    scores = stacked_features(vectorizers, scored.tokens, scored.cleaned) @ coef.T.astype(np.float64) + intercept
    predicted = [categories[i] for i in np.asarray(scores).argmax(axis=1)]
    metrics = evaluate_predictions(scored.labels, predicted, categories)
    return {**metrics, "features": featurizer.n_features, "seconds": time.perf_counter() - started}


def default_params() -> dict:
    """The defaults' point in the search space (``TrainConfig()``; fails if it is not in it)."""
    config = TrainConfig()
    word, char = config.ngrams.word_ngrams, config.ngrams.char_ngrams
    if word is None or char is None or word[0] != 1 or char[0] != 1:
        raise ValueError(f"the default n-grams {config.ngrams} are outside the search space")
    return {
        "C": config.linear_c, "class_weight": config.linear_class_weight or "none",
        "word_high": word[1], "char_high": char[1], "min_df": config.ngrams.min_df,
    }


def search(data: TrainingData, trials: int, seed: int, log=print) -> dict:
    """Run the study on ``data``'s fit part and holdout, then score best and default on dev.

    Returns:
        ``{"trials", "best": {"params", "holdout_macro_f1", "dev"}, "default": {"params",
        "holdout_macro_f1", "dev"}, "seconds"}`` (dev entries: accuracy and macro-F1).
    """
    started = time.perf_counter()
    fit, holdout, dev, categories = data.train, data.holdout, data.valid, data.categories
    if not len(holdout):
        raise ValueError("no holdout: too few examples to split the training file")

    def objective(trial: optuna.Trial) -> float:
        params = {
            "C": trial.suggest_float("C", 0.05, 5.0, log=True),
            "class_weight": trial.suggest_categorical("class_weight", ["balanced", "none"]),
            "word_high": trial.suggest_int("word_high", 1, 3),
            "char_high": trial.suggest_int("char_high", 3, 5),
            "min_df": trial.suggest_int("min_df", 1, 3),
        }
        result = member_macro_f1(member_config(params, seed), fit, holdout, categories)
        log(f"  trial {trial.number:2d}: holdout macro-F1 {result['macro_f1']:.4f}  {result['features']} features  "
            f"{result['seconds']:.1f} s  {json.dumps(params)}")
        return result["macro_f1"]

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    out = {"trials": len(study.trials)}
    for name, params in (("best", dict(study.best_params)), ("default", default_params())):
        config = member_config(params, seed)
        held = study.best_value if name == "best" else member_macro_f1(config, fit, holdout, categories)["macro_f1"]
        on_dev = member_macro_f1(config, fit, dev, categories)
        out[name] = {"params": params, "holdout_macro_f1": held, "dev": {"accuracy": on_dev["accuracy"], "macro_f1": on_dev["macro_f1"]}}
    out["seconds"] = time.perf_counter() - started
    return out


def _params(p: dict) -> str:
    return (f"C={p['C']:.3g}, class_weight={p['class_weight']}, word (1, {p['word_high']}), "
            f"char (1, {p['char_high']}), min_df={p['min_df']}")


def markdown(results: dict, command: str, seed: int) -> str:
    """The BENCHMARKS.md section of ``results`` (``{dataset: search() result}``)."""
    lines = [
        SECTION, "",
        "Issue 9 §7: kind `hybrid`'s linear n-gram member alone (not the LSTM, not the fusion), fitted with "
        "`training.fit_hybrid` on the fit part of `toiawase train`'s split; objective: macro-F1 on the holdout "
        "of the training file (never dev); Optuna TPE sampler, seed " f"{seed}. Defaults in the code are unchanged.", "",
        "```", command, "```", "",
        f"Search space: {SPACE}.", "",
        "| data set | trials | best trial's parameters | holdout macro-F1 best / default | dev macro-F1 best / default | dev accuracy best / default | search time |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        b, d = r["best"], r["default"]
        lines.append(
            f"| {name} | {r['trials']} | {_params(b['params'])} | {b['holdout_macro_f1']:.4f} / {d['holdout_macro_f1']:.4f} | "
            f"{b['dev']['macro_f1']:.4f} / {d['dev']['macro_f1']:.4f} | {b['dev']['accuracy']:.4f} / {d['dev']['accuracy']:.4f} | "
            f"{r['seconds']:.0f} s |"
        )
    default = results[next(iter(results))]["default"]["params"] if results else default_params()
    lines += ["", f"Default configuration: {_params(default)}. Dev scores are of the member alone (its argmax), "
              "one fit on the fit part each, scored once.", ""]
    return "\n".join(lines)


def update_file(path: Path, section: str) -> None:
    """Replace the ``## Hyperparameter search (Optuna)`` section of ``path`` (up to the next ``## ``), or append it."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(SECTION) + r"\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", required=True, help="Folder with <dataset>/train.tsv and dev.tsv.")
    parser.add_argument("--datasets", nargs="*", default=["jmultiwoz_routing", "mlit_defects"])
    parser.add_argument("--trials", type=int, default=20, help="Optuna trials per data set.")
    parser.add_argument("--seed", type=int, default=TrainConfig().seed, help="Split seed (as toiawase train) and TPE seed.")
    parser.add_argument("--update", help="Markdown file whose 'Hyperparameter search (Optuna)' section is replaced.")
    args = parser.parse_args()
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = TrainConfig(seed=args.seed)
    results = {}
    for name in args.datasets:
        folder = Path(args.data_root) / name
        started = time.perf_counter()
        data = load_training_data(str(folder / "train.tsv"), config, PreprocessSettings(token_form=config.token_form), dev=str(folder / "dev.tsv"))
        print(f"{name}: fit {len(data.train)}, holdout {len(data.holdout)}, dev {len(data.valid)} "
              f"(loaded in {time.perf_counter() - started:.0f} s); {args.trials} trials", flush=True)
        r = search(data, args.trials, args.seed, log=lambda line: print(line, flush=True))
        results[name] = r
        b, d = r["best"], r["default"]
        print(f"{name} best trial: {_params(b['params'])}; holdout macro-F1 {b['holdout_macro_f1']:.4f}")
        print(f"{name} dev: best macro-F1 {b['dev']['macro_f1']:.4f} acc {b['dev']['accuracy']:.4f} | "
              f"default macro-F1 {d['dev']['macro_f1']:.4f} acc {d['dev']['accuracy']:.4f} "
              f"(default holdout macro-F1 {d['holdout_macro_f1']:.4f})", flush=True)
    if args.update:
        command = "PYTHONPATH=. .venv/bin/python bench/search.py " + " ".join(sys.argv[1:])
        update_file(Path(args.update), markdown(results, command, args.seed))
        print(f"updated {args.update}")


if __name__ == "__main__":
    main()
