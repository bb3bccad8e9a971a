"""Where the work is: which functions a file implements and which are still stubs.

A folder may hold both the assignment's ``.py`` files and a notebook; the one that
implements the functions the other leaves as stubs is graded (see ``prefer_notebook``)."""

from __future__ import annotations

import ast


def functions(trees: list[ast.Module]) -> tuple[set[str], set[str]]:
    """(implemented, stubs): functions and methods (``Class.method``) defined in ``trees``.
    A stub's body is only a docstring and ``raise NotImplementedError``, ``pass`` or ``...``."""
    stub: dict[str, bool] = {}  # the last definition of a name counts, as when the code runs
    for tree in trees:
        for node, owner in _definitions(tree):
            stub[f"{owner}.{node.name}" if owner else node.name] = _is_stub(node)
    return {name for name, is_stub in stub.items() if not is_stub}, {name for name, is_stub in stub.items() if is_stub}


def prefer_notebook(files: list[ast.Module], notebook: list[ast.Module]) -> bool:
    """Grade the notebook when it implements more of the files' stubs than the files
    implement of its stubs; a tie goes to the files."""
    files_done, files_stubs = functions(files)
    notebook_done, notebook_stubs = functions(notebook)
    return len(notebook_done & files_stubs) > len(files_done & notebook_stubs)


def _definitions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, ""
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield member, node.name


def _is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if len(body) != 1:
        return False
    only = body[0]
    if isinstance(only, ast.Pass) or (isinstance(only, ast.Expr) and isinstance(only.value, ast.Constant)):
        return True
    if isinstance(only, ast.Raise) and only.exc is not None:
        raised = only.exc.func if isinstance(only.exc, ast.Call) else only.exc
        return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"
    return False
