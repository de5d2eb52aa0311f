"""A crowd of support agents (Locust): the form, single and 100-question API calls, /model, /healthz.

Run through ``bench/loadtest/run.py`` (``make load``), which starts the server, runs
``locust --headless`` and prints the table; or by hand against a running server::

    locust -f bench/loadtest/locustfile.py --headless -u 32 -r 32 -t 60s --host http://127.0.0.1:8000

Each user is an agent who thinks 0.1–0.5 s between actions (``wait_time``). The weights of the
actions (``@task(n)``): a single question through the API 6, the form answered (POST /) 2, a
100-question API call 2, the empty form (GET /) 1, the model page 1, /healthz 1. Every request
is named by its kind (``name=``), so the statistics come out per kind. A response other than
200 (or one whose JSON lacks the expected predictions) counts as a failure.

With ``LOCUST_ONLY_SINGLE=1`` the users send only single-question API calls, with no think
time: the HTTP throughput of single questions (compared with the in-process fast path).
"""

from __future__ import annotations

import json
import os
import random
import re

from locust import HttpUser, between, constant, task
from questions import QUESTIONS  # bench/loadtest/questions.py (locust puts this folder on sys.path)

BATCH_SIZE = 100
ONLY_SINGLE = os.environ.get("LOCUST_ONLY_SINGLE") == "1"
JSON = {"Content-Type": "application/json"}
#: The form's CSRF token (Flask-WTF), read from the empty form once per user (its session cookie).
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def _check_predictions(response, expected: int) -> None:
    """Mark the response failed unless it is 200 with ``expected`` predictions."""
    if response.status_code != 200:
        response.failure(f"status {response.status_code}")
        return
    try:
        predictions = response.json()["predictions"]
    except (ValueError, KeyError, TypeError):
        response.failure("no predictions in the answer")
        return
    if len(predictions) != expected:
        response.failure(f"{len(predictions)} predictions, expected {expected}")
    else:
        response.success()


class Agent(HttpUser):
    """One support agent (see the module docstring for the mix)."""

    wait_time = constant(0) if ONLY_SINGLE else between(0.1, 0.5)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.csrf_token = ""
        if not ONLY_SINGLE:
            found = CSRF_FIELD.search(self.client.get("/", name="form GET").text)
            self.csrf_token = found.group(1) if found else ""

    def _single_body(self) -> bytes:
        return json.dumps({"question": self.rng.choice(QUESTIONS)}, ensure_ascii=False).encode()

    @task(6)
    def api_single(self) -> None:
        with self.client.post("/api/v1/predict", data=self._single_body(), headers=JSON, name="api single", catch_response=True) as r:
            _check_predictions(r, 1)

    if not ONLY_SINGLE:

        @task(2)
        def form_post(self) -> None:
            self.client.post("/", data={"question": self.rng.choice(QUESTIONS), "csrf_token": self.csrf_token}, name="form POST")

        @task(2)
        def api_batch(self) -> None:
            questions = [f"{self.rng.choice(QUESTIONS)} ({i})" for i in range(BATCH_SIZE)]
            body = json.dumps({"questions": questions}, ensure_ascii=False).encode()
            with self.client.post("/api/v1/predict", data=body, headers=JSON, name="api batch 100", catch_response=True) as r:
                _check_predictions(r, BATCH_SIZE)

        @task(1)
        def form_get(self) -> None:
            self.client.get("/", name="form GET")

        @task(1)
        def model_page(self) -> None:
            self.client.get("/model", name="GET /model")

        @task(1)
        def healthz(self) -> None:
            self.client.get("/healthz", name="GET /healthz")
