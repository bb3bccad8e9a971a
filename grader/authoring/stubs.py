"""Student stubs from the reference: one source of truth.

In the reference, the body of each function students write sits between
``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines; the stub keeps the signature and
docstring and raises NotImplementedError instead. An assignment that declares
``notebook_from`` also gets its notebook built from both versions, and every assignment
its reference answers to the public probes (``expected.py``).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat

from grader.authoring.expected import expected_text, same_answers
from grader.plugin import Assignment

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"


class MarkerError(ValueError):
    pass


def stub_source(source: str, filename: str = "<source>") -> str:
    """Replace every marked solution region with a NotImplementedError naming its function."""
    owners = _enclosing_functions(source)
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    inside_since = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside_since is not None:
                raise MarkerError(f"{filename}:{number}: {BEGIN} inside another solution (opened at line {inside_since})")
            inside_since = number
            indent = line[: len(line) - len(line.lstrip())]
            owner = owners.get(number)
            if owner is None:
                raise MarkerError(f"{filename}:{number}: {BEGIN} outside a function body")
            out.append(f'{indent}raise NotImplementedError("{owner} is not implemented yet")\n')
        elif stripped == END:
            if inside_since is None:
                raise MarkerError(f"{filename}:{number}: {END} without {BEGIN}")
            inside_since = None
        elif inside_since is None:
            out.append(line)
    if inside_since is not None:
        raise MarkerError(f"{filename}:{inside_since}: {BEGIN} is never closed")
    return "".join(out)


def _enclosing_functions(source: str) -> dict[int, str]:
    """Line number -> qualified name of the innermost function containing it."""
    owners: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                for line in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    owners[line] = name
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return owners


def generated_files(assignment: Assignment) -> dict[Path, str]:
    """Every file `assign` writes for ``assignment``: path -> content."""
    files: dict[Path, str] = {}
    for source_path in sorted(assignment.reference_dir.glob("*.py")):
        source = source_path.read_text(encoding="utf-8")
        files[assignment.stub_dir / source_path.name] = stub_source(source, str(source_path))
    files[assignment.expected_path] = expected_text(assignment)  # the students' copy judges against it
    if not assignment.notebook_from:
        return files
    module = assignment.modules[next(iter(assignment.modules))]
    reference_source = (assignment.reference_dir / module).read_text(encoding="utf-8")
    for directory, source in (
        (assignment.reference_dir, reference_source),
        (assignment.stub_dir, stub_source(reference_source)),
    ):
        files[directory / assignment.notebook] = nbformat.writes(assignment.build_notebook(source)) + "\n"
    return files


def write(assignment: Assignment) -> list[Path]:
    written = []
    for path, content in generated_files(assignment).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not _current(path, content):
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


def stale(assignment: Assignment) -> list[Path]:
    """Generated files whose committed content differs from what `assign` would write."""
    return [path for path, content in generated_files(assignment).items() if not _current(path, content)]


def _current(path: Path, content: str) -> bool:
    """Whether ``path`` holds ``content``; for stored answers, up to the last digits that
    float32 arithmetic gives differently on different CPUs."""
    if not path.exists():
        return False
    committed = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return same_answers(json.loads(committed), json.loads(content))
    return committed == content
