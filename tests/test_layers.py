"""The layout: imports flow one way, preprocessing → routing (→ feedback) → training → webapp → toiawase (the CLI).

Checked from the source (every ``import`` statement of every module, parsed with ``ast``) and,
for TensorFlow, at run time in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.paths import REPO_ROOT

#: What each top-level package may import from the project.
ALLOWED = {
    "preprocessing": {"preprocessing"},
    "routing": {"preprocessing", "routing"},
    "feedback": {"preprocessing", "routing", "feedback"},
    "training": {"preprocessing", "routing", "feedback", "training"},
    "webapp": {"preprocessing", "routing", "feedback", "webapp"},
    "toiawase": {"preprocessing", "routing", "feedback", "training", "webapp", "toiawase"},
}


def project_imports(package: str) -> dict[str, set[str]]:
    """Module path → the project's top-level packages it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO_ROOT))] = names & set(ALLOWED)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_flow_one_way(package):
    imports = project_imports(package)
    assert imports, f"no modules found in {package}/"
    wrong = {module: sorted(names - ALLOWED[package]) for module, names in imports.items() if names - ALLOWED[package]}
    assert wrong == {}


def test_the_console_script_is_the_only_module_importing_training_and_webapp():
    both = [
        module
        for package in ALLOWED
        for module, names in project_imports(package).items()
        if {"training", "webapp"} <= names
    ]
    assert both == ["toiawase/cli.py"]


def test_serving_never_imports_tensorflow():
    """Routing a question and building the web app load no TensorFlow, Keras or training code."""
    code = (
        "import json, sys\n"
        "import routing, webapp\n"
        "from routing.predictor import load_predictor\n"
        "from webapp import create_app\n"
        "app = create_app({'MODEL_PATH': sys.argv[1], 'DB_URL': 'sqlite://'})  # in memory: nothing written beside the bundle\n"
        "load_predictor(sys.argv[1]).predict(['荷物が届きません'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'training'))))\n"
    )
    bundle = REPO_ROOT / "tests" / "data" / "format1_bundle"
    done = subprocess.run([sys.executable, "-c", code, str(bundle)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
