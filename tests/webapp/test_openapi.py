"""The OpenAPI description (``GET /api/v1/openapi.json``) against the app, fuzzed with Schemathesis.

Schemathesis generates requests from ``webapp/openapi.json`` (valid ones and, for the bodies,
invalid ones) and sends them to the Flask app in-process (WSGI), with a model trained on the
sample tickets, a SQLite feedback store and an API token set. Every answer must conform to the
description (status code documented, JSON body matching its schema, headers) and none may be a
server error. The number of cases per operation and the statuses seen are printed at the end of
the module (``pytest -s``) and written as JSON to ``$TOIAWASE_FUZZ_REPORT`` when it is set
(``make reliability`` reads it). ``TOIAWASE_FUZZ_EXAMPLES`` sets Hypothesis' ``max_examples``
per operation (default 40, to keep CI short).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from webapp import create_app
from webapp.api import OPENAPI_PATH

TOKEN = "fuzz-token-4f1c"
MAX_EXAMPLES = int(os.environ.get("TOIAWASE_FUZZ_EXAMPLES", "40"))
#: Every Schemathesis check runs (server errors, status codes, content types, bodies and headers
#: against their schemas, negative data rejected with 4xx, methods not described answered 405,
#: ...) but "positive data accepted": a schema-valid feedback can rightly be 400 (no idempotency
#: key in the body nor the header, which OpenAPI cannot say; a category the loaded model does not
#: have), and a valid predict body's question can be cleaned away to nothing (still 200).
EXCLUDED_CHECKS = [checks.positive_data_acceptance]


@pytest.fixture(scope="module")
def fuzzed_app(trained_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The app on the session's bundle, rate limits off (one client sends every case), a token set."""
    db = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'feedback.sqlite3'}"
    return create_app({"TESTING": True, "MODEL_PATH": str(trained_bundle_dir), "DB_URL": db,
                       "API_TOKEN": TOKEN, "RATELIMIT_ENABLED": False})


@pytest.fixture(scope="module")
def tally():
    """Statuses seen per operation; printed (and written to ``$TOIAWASE_FUZZ_REPORT``) at the end."""
    seen: dict[str, Counter] = {}
    yield seen
    report = {
        "cases": sum(sum(c.values()) for c in seen.values()),
        "server_errors": sum(n for c in seen.values() for status, n in c.items() if status >= 500),
        "operations": {name: {str(k): v for k, v in sorted(c.items())} for name, c in sorted(seen.items())},
    }
    print(f"\nSchemathesis: {report['cases']} cases, {report['server_errors']} server errors: {json.dumps(report['operations'])}")
    if os.environ.get("TOIAWASE_FUZZ_REPORT"):
        Path(os.environ["TOIAWASE_FUZZ_REPORT"]).write_text(json.dumps(report, indent=1))


@pytest.fixture(scope="module")
def api_schema(fuzzed_app):
    """The description as the app serves it, bound to the app (WSGI, no socket)."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzzed_app)


def operations() -> list:
    """(path, method, generation mode) of every operation; negative cases only where there is input to break."""
    description = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    cases = []
    for path, item in description["paths"].items():
        for method, operation in item.items():
            has_input = "requestBody" in operation or "parameters" in operation
            for mode in GenerationMode:
                if has_input or mode is GenerationMode.POSITIVE:
                    cases.append(pytest.param(path, method, mode, id=f"{method.upper()} {path} {mode.value}"))
    return cases


# Schemathesis' own pytest integration (``from_fixture`` + ``@schema.parametrize()``) fails on
# pytest 9 (it sets ``request.node._nodeid``, gone in pytest 9): each operation's case strategy
# is driven by Hypothesis here instead, which is what ``parametrize`` does.
@pytest.mark.parametrize(("path", "method", "mode"), operations())
def test_every_answer_conforms_to_the_description_and_none_is_a_server_error(api_schema, tally, path, method, mode):
    operation = api_schema[path][method.upper()]
    seen = tally.setdefault(f"{method.upper()} {path}", Counter())

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        response = case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=EXCLUDED_CHECKS)
        seen[response.status_code] += 1
        assert response.status_code < 500

    run()
    assert sum(seen.values()) > 0


def test_the_served_description_is_the_file(fuzzed_app):
    response = fuzzed_app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert response.get_json()["openapi"].startswith("3.")
