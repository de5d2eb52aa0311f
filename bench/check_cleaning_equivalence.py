"""Check that the optimised cleaning gives exactly the old outputs, on all real questions.

Usage::

    .venv/bin/python bench/check_cleaning_equivalence.py --data-root ../shared/data [--base 6040047]

Loads ``preprocessing/{cleaning,pipeline,tokenizer}.py`` as they were at git revision ``--base``
(the last commit before the optimisation) into a separate package, and compares, for every
question of ``--data-root``'s data sets (dev and train) and of ``data/sample/tickets.tsv``:

* ``clean_text`` and ``preprocess`` of the old code and of this checkout, for the rule list the
  old code had (``RULES_V1``, what old bundles carry), with the default settings and with
  ``nfkc``/``lowercase`` switched off and ``token_form="base"``;
* ``clean`` (no lower-casing) with the old list;
* this checkout's ``clean_text`` with ``DEFAULT_RULES`` (the e-mail rules too) against a
  straightforward ``re.sub`` loop over the same rules.

Prints one line per check with the number of questions and of differences, and the first few
differences; exits with status 1 if there is any. Not run in CI (the data is outside the repo);
tests/test_cleaning_speed.py checks the same property on generated strings.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import types
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from preprocessing.cleaning import DEFAULT_RULES, RULES_V1, clean  # noqa: E402
from preprocessing.datasets import load_tickets  # noqa: E402
from preprocessing.pipeline import PreprocessSettings, clean_text, preprocess, preprocess_batch  # noqa: E402


def load_old(revision: str) -> types.ModuleType:
    """The old ``preprocessing`` modules at ``revision``, as a package named ``oldprep``."""
    package = types.ModuleType("oldprep")
    package.__path__ = []
    sys.modules["oldprep"] = package
    for name in ("cleaning", "tokenizer", "pipeline"):
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{revision}:preprocessing/{name}.py"], check=True, capture_output=True, text=True
        ).stdout
        source = source.replace("from preprocessing.", "from oldprep.")
        spec = importlib.util.spec_from_loader(f"oldprep.{name}", loader=None)
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"oldprep.{name}"] = module
        exec(compile(source, f"{revision}:preprocessing/{name}.py", "exec"), module.__dict__)  # noqa: S102
        setattr(package, name, module)
    return package


def reference_clean(text: str, rules, nfkc: bool) -> str:
    """The definition: NFKC, then ``re.sub`` for each rule in order, then strip."""
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    for rule in rules:
        text = re.sub(rule.pattern, rule.replacement, text)
    return text.strip()


def compare(label: str, questions: list[str], old, new) -> int:
    """Print and return the number of questions where ``old(q) != new(q)``."""
    differences = [(q, a, b) for q in questions if (a := old(q)) != (b := new(q))]
    print(f"{label:<58} {len(questions):>7,} questions  {len(differences):>4} differences", flush=True)
    for question, a, b in differences[:5]:
        print(f"    {question!r}\n      old {a!r}\n      new {b!r}")
    return len(differences)


def main() -> None:
    """Parse arguments, run every comparison, exit 1 on any difference."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="*", default=["jmultiwoz_routing", "mlit_defects"])
    parser.add_argument("--base", default="6040047", help="Git revision of the old preprocessing code.")
    args = parser.parse_args()
    old = load_old(args.base)
    questions = [t.question for t in load_tickets(str(REPO / "data" / "sample" / "tickets.tsv")).tickets]
    for name in args.datasets:
        for split in ("dev.tsv", "train.tsv"):
            questions += [t.question for t in load_tickets(str(Path(args.data_root) / name / split)).tickets]
    # RULES_V1 must be exactly the old default list: old bundles carry it.
    old_rules = tuple(RULES_V1[0].__class__(**rule.to_dict()) for rule in old.cleaning.DEFAULT_RULES)
    assert old_rules == RULES_V1, "RULES_V1 differs from the old DEFAULT_RULES"
    failures = 0
    for nfkc, lowercase, form in ((True, True, "surface"), (False, True, "surface"), (True, False, "surface"), (True, True, "base")):
        new_settings = PreprocessSettings(nfkc=nfkc, rules=RULES_V1, lowercase=lowercase, token_form=form)
        old_settings = old.pipeline.PreprocessSettings.from_dict(new_settings.to_dict())
        tag = f"nfkc={nfkc} lowercase={lowercase} {form}"
        failures += compare(f"clean_text, old rules, {tag}", questions,
                            lambda q: old.pipeline.clean_text(q, old_settings), lambda q: clean_text(q, new_settings))
        if form == "surface" or nfkc:
            failures += compare(f"preprocess, old rules, {tag}", questions,
                                lambda q: old.pipeline.preprocess(q, old_settings), lambda q: preprocess(q, new_settings))
        batch = preprocess_batch(questions, new_settings)
        failures += compare(f"preprocess_batch, old rules, {tag}", list(range(len(questions))),
                            lambda i: old.pipeline.preprocess(questions[i], old_settings), lambda i: batch[i])
    failures += compare("clean (no lower-casing), old rules", questions,
                        lambda q: old.cleaning.clean(q, old.cleaning.DEFAULT_RULES), lambda q: clean(q, RULES_V1))
    failures += compare("clean, DEFAULT_RULES, against a plain re.sub loop", questions,
                        lambda q: reference_clean(q, DEFAULT_RULES, True), lambda q: clean(q, DEFAULT_RULES))
    print("OK: identical" if not failures else f"FAILED: {failures} differences")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
