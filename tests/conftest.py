"""Shared helpers for the grader's own tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the examples package lives beside the grader

from examples.materialize import materialize  # noqa: E402
from grader.outputs.gradescope import SCHEMA_PATH  # noqa: E402


def run_grader(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m grader ARGS`` as a user runs it, from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def read_results(path: Path) -> dict:
    """A results.json, validated against Gradescope's schema as this grader writes it."""
    results = json.loads(Path(path).read_text())
    jsonschema.validate(results, json.loads(SCHEMA_PATH.read_text()))
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    return results


@pytest.fixture(scope="session")
def autodiff_examples(tmp_path_factory):
    return {e.name: e for e in materialize("autodiff", tmp_path_factory.mktemp("autodiff-examples"))}
