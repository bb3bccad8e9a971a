"""Turn a student's notebook into a module holding its definitions.

The checks need the notebook's functions and classes, not its experiments: top-level
imports, ``def``, ``class`` and assignments are kept; loops, plots, bare calls and
assignments that call the notebook's own functions (``losses = train_sgd(...)``) are
dropped, so a notebook that trains for 100 epochs loads in a moment. Each kept
statement is wrapped so that one failing cell costs only what it defines.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import nbformat

# Cell magics whose body is still Python; any other (%%bash, %%html, ...) drops the cell.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}

HEADER = '''"""Definitions extracted from {name} by the grader."""
_grader_cell_errors = []
'''

WRAPPED = """try:
{body}
except Exception as _grader_error:
    _grader_cell_errors.append(("cell {cell}", repr(_grader_error)))
"""


class NotebookError(Exception):
    pass


def notebook_to_module(path: Path) -> tuple[str, list[str]]:
    """Return (module source, notes for the student) for the notebook at ``path``."""
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as error:  # nbformat raises JSON, validation and encoding errors alike
        raise NotebookError(_first_line(error)) from None
    if notebook.get("nbformat", 0) < 4:
        raise NotebookError("only notebooks in format 4 are supported")
    cells = [(index, cell) for index, cell in enumerate(notebook.cells, start=1) if cell.get("cell_type") == "code"]
    notes: list[str] = []
    parsed: list[tuple[int, str, ast.Module]] = []
    for index, cell in cells:
        source = strip_magics(cell.source)
        try:
            parsed.append((index, source, ast.parse(source)))
        except SyntaxError as error:
            notes.append(f"{path.name} cell {index} has a syntax error (line {error.lineno}: {error.msg}); it was skipped")
    own_functions = {
        node.name
        for _, _, tree in parsed
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    futures = sorted(
        {alias.name for _, _, tree in parsed for node in tree.body if _is_future(node) for alias in node.names}
    )
    # A __future__ import is only legal at the top of a module, so it moves there.
    parts = [f"from __future__ import {', '.join(futures)}\n" if futures else "", HEADER.format(name=path.name)]
    for index, source, tree in parsed:
        for node in tree.body:
            if _is_definition(node, own_functions) and not _is_future(node):
                segment = ast.get_source_segment(source, node, padded=True) or ""
                decorators = "".join(f"@{ast.get_source_segment(source, d)}\n" for d in getattr(node, "decorator_list", []))
                body = textwrap.indent(decorators + textwrap.dedent(segment), "    ")
                parts.append(f"# cell {index}\n" + WRAPPED.format(body=body, cell=index))
    return "\n".join(parts), notes


def strip_magics(source: str) -> str:
    """IPython syntax to Python: drop line magics and shell escapes, unwrap Python cell magics."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split()[0] if lines[0].strip() != "%%" else ""
        if magic not in PYTHON_CELL_MAGICS:
            return ""
        lines = lines[1:]
    kept = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or (stripped.endswith("?") and not stripped.startswith("#")):
            kept.append(line[: len(line) - len(stripped)] + "pass")
        else:
            kept.append(line)
    return "\n".join(kept)


def _is_future(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _is_definition(node: ast.stmt, own_functions: set[str]) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        calls = {
            call.func.id
            for call in ast.walk(node.value)
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
        }
        return not calls & own_functions
    return False


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
