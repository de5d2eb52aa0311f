"""Every field of ``bundle.json`` and ``metrics.json`` (two levels deep) set to a value of the
wrong type: the bundle either serves, or is refused as a damaged bundle naming its file or
directory. Never a traceback, never a 500 (issue 12: "a broken model file is named").

A throwaway fuzz of this kind found 500s on ``/model`` from ``metrics.json`` and
``bundle.json``'s review records, and tracebacks at load (``"similar": 3``, ``"kind": []``) and
in predict (``"seq_len": 0``); this test keeps them found. Each case is a new version directory
of symbolic links to the session's hybrid bundle with the one damaged file written in, and
``current`` flipped to it; the app (reload interval 0) loads it at the next request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from routing.bundle import BundleError
from routing.predictor import load_predictor
from tests.bundles import point_current, with_field
from webapp import create_app, settings

#: Values of the wrong type for any field (a text, null, a list, a negative number).
WRONG = ("x", None, [], -1)
PAGES = ("/", "/model", "/monitor", "/api/v1/model", "/healthz")
QUESTIONS = ["注文した商品がまだ届きません", "！！！？？？", "パスワードを忘れました yamada@example.com"]


def damaged_documents(document: dict) -> Iterator[tuple[str, dict]]:
    """``(field, copy)`` for every field at depth 1 and 2 of ``document`` set to each of :data:`WRONG`."""
    for key, value in document.items():
        fields = [key] + ([f"{key}.{inner}" for inner in value] if isinstance(value, dict) else [])
        for field in fields:
            for wrong in WRONG:
                yield f"{field}={wrong!r}", with_field(document, field, wrong)


@pytest.mark.parametrize("name", ["bundle.json", "metrics.json"])
def test_a_damaged_field_serves_or_is_named_never_a_500(hybrid_bundle_dir, tmp_path, monkeypatch, name):
    monkeypatch.delenv(settings.ENV_MODEL, raising=False)
    source = (hybrid_bundle_dir / "current").resolve()
    original = json.loads((source / name).read_text(encoding="utf-8"))
    models = tmp_path / "models"
    models.mkdir()
    client = create_app({"TESTING": True, "MODEL_PATH": str(models), "RELOAD_INTERVAL": 0,
                         "DB_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}"}).test_client()
    served = refused = 0
    for number, (field, document) in enumerate(damaged_documents(original)):
        version = tmp_path / "models" / f"v{number:04d}"
        version.mkdir()
        for entry in source.iterdir():
            if entry.name != name:
                os.symlink(entry, version / entry.name)
        (version / name).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        try:
            predictor = load_predictor(version)
        except BundleError as error:
            assert str(error).startswith(str(version)), (field, str(error))
            refused += 1
        else:
            predictor.predict(QUESTIONS, top_k=3)
            predictor.analyze(predictor.prepare(QUESTIONS[0]))
            served += 1
        point_current(models, version.name)
        statuses = {page: client.get(page).status_code for page in PAGES}
        statuses["POST /api/v1/predict"] = client.post("/api/v1/predict", json={"question": QUESTIONS[0]}).status_code
        assert 500 not in statuses.values(), (field, statuses)
    # Both outcomes occur: the check is neither "refuse everything" nor "accept everything".
    assert served > 10 and refused > 10, (served, refused)
