"""Read a notebook (or a jupytext ``py:percent`` script) as Jupyter runs it, keeping its definitions.

Each code cell goes through IPython's own input transformation, so a cell means what it
means in Jupyter: magics and shell lines (``%matplotlib inline``, ``!pip install``) become
``get_ipython()`` calls, which do nothing here, and a comment ending in ``?`` stays a comment.
Cell magics whose body is Python (``%%time``, ``%%capture``...) keep their body.

The grader calls the student's functions itself, so of each cell it runs only what sets
names those functions may use, and not the notebook's experiments:

* kept: imports, ``def``, ``class`` and assignments, and ``if``/``try``/``with``/``for``/
  ``while``/``match`` blocks that still set a name once the experiments inside are left out
  (Colab's ``if torch.cuda.is_available(): device = ...``, ``try: from tqdm.auto import tqdm``);
* left out: bare expressions (``train(...)``, ``plt.show()``, ``print(...)``), anything that
  calls a function the notebook defines (``losses = train_sgd(...)``), and blocks that set no
  name once those are left out (a training loop at top level).

Kept statements run one at a time, so a failing one costs only the names it sets. When a
function is defined in several cells the last one counts, as after "Run All"; the notes say so.
"""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from dataclasses import dataclass

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from grader.submission.files import plain

PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}  # cell magics whose body is Python
MAX_CODE_BYTES = 1 << 20  # the limit is on code: saved outputs are not read
MAX_CELLS = 5000
# IPython re-tokenizes a cell once per magic it rewrites: bound magics x cell size, not just size.
MAX_TRANSFORM_WORK = 4_000_000  # a few seconds at worst
# Lines IPython may rewrite (a magic, a shell escape, help `obj?`), counted generously.
ESCAPED_LINE = re.compile(r"^\s*[%!?]|^[^#\n]*\?[ \t]*$|(?<![=!<>])=\s*[%!]", re.M)
PERCENT_MARKER = re.compile(r"^# %%(.*)$", re.M)

BINDING = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
ASSIGNING = (ast.Assign, ast.AnnAssign, ast.AugAssign)
BLOCKS = (ast.If, ast.Try, ast.TryStar, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While, ast.Match)
DEFINING = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
CONTROL = (ast.Pass, ast.Raise, ast.Assert, ast.Delete, ast.Global, ast.Nonlocal, ast.Break, ast.Continue)

# The module the child imports: the kept code of each cell, run one statement at a time.
MODULE = '''"""A notebook as the grader runs it: the definitions of each cell (grader/submission/notebook.py)."""
import __future__ as _grader_future
import ast as _grader_ast
import linecache as _grader_linecache
import os as _grader_os


class _GraderShell:
    """Stands in for IPython: magics and shell commands do nothing in the grader."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def get_ipython():
    return _GraderShell()


_grader_cells = {cells}
_grader_dropped = {dropped}  # name -> the left-out statement that sets it
_grader_cell_errors = []  # (cell, line, names it would set, error)


def _grader_run(namespace):
    flags, folder = 0, _grader_os.path.dirname(namespace.get("__file__", ""))
    for label, source in _grader_cells:
        filename = _grader_os.path.join(folder, {prefix} + label)
        _grader_linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        for node in _grader_ast.parse(source, filename).body:
            if isinstance(node, _grader_ast.ImportFrom) and node.module == "__future__":
                for alias in node.names:
                    flags |= getattr(getattr(_grader_future, alias.name, None), "compiler_flag", 0)
            try:
                code = compile(_grader_ast.Module([node], []), filename, "exec", flags, dont_inherit=True)
                exec(code, namespace)
            except (Exception, SystemExit) as error:
                names = sorted(
                    {{n.id for n in _grader_ast.walk(node) if isinstance(n, _grader_ast.Name)
                      and isinstance(n.ctx, _grader_ast.Store)}}
                    | {{getattr(node, "name", "")}} - {{""}}
                    | {{(a.asname or a.name).split(".")[0] for a in getattr(node, "names", []) if not isinstance(a, str)}}
                )
                _grader_cell_errors.append((label, node.lineno, names, f"{{type(error).__name__}}: {{error}}"[:300]))


_grader_run(globals())
del _grader_run
'''


class NotebookError(Exception):
    pass


@dataclass
class Cell:
    label: str  # how the student finds it: "cell 5", or "cell at line 40" in a script
    source: str


def notebook_cells(data: bytes) -> list[Cell]:
    """The code cells of a notebook file's bytes; outputs are dropped before anything else."""
    try:
        raw = json.loads(data)
        if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
            raise ValueError("it has no list of cells")
        if len(raw["cells"]) > MAX_CELLS:  # nbformat validates every cell: bound the work first
            raise ValueError(f"it has more than {MAX_CELLS} cells")
        for cell in raw["cells"]:
            if isinstance(cell, dict):  # saved outputs may be huge; the grader reads only code
                cell.pop("attachments", None)
                if "outputs" in cell:
                    cell["outputs"] = []
        notebook = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as error:  # JSON, nesting, encoding and nbformat's own validation errors alike
        raise NotebookError(_first_line(error)) from None
    if notebook.get("nbformat", 0) < 4:
        raise NotebookError("only notebooks in format 4 are supported")
    return [
        Cell(f"cell {number}", cell.source)
        for number, cell in enumerate(notebook.cells, start=1)
        if cell.get("cell_type") == "code"
    ]


def is_percent_script(text: str) -> bool:
    """A jupytext ``py:percent`` script: cells start with ``# %%`` lines."""
    return PERCENT_MARKER.search(text) is not None


def percent_cells(text: str) -> list[Cell]:
    """The code cells of a ``py:percent`` script, labelled by the line they start on."""
    markers = list(PERCENT_MARKER.finditer(text))
    starts = [0] + [m.start() for m in markers]
    ends = [m.start() for m in markers] + [len(text)]
    cells, line, counted = [], 1, 0
    for start, end in zip(starts, ends):
        line, counted = line + text.count("\n", counted, start), start  # counted once: linear in the text
        chunk = text[start:end]
        header = chunk.split("\n", 1)[0]
        if header.startswith("# %%") and re.search(r"\[(markdown|md|raw)\]", header):
            continue
        body = chunk.split("\n", 1)[1] if header.startswith("# %%") and "\n" in chunk else chunk
        if body.strip():
            cells.append(Cell(f"cell at line {line}", body))
    return cells


Parsed = list[tuple[Cell, str, ast.Module]]  # each cell with its Python and syntax tree


def cells_to_module(cells: list[Cell], name: str) -> tuple[str, list[str]]:
    """Return (module source, notes for the student) for ``cells`` of the file ``name``."""
    parsed, notes = parse_cells(cells, name)
    source, more = module_from_parsed(parsed, name)
    return source, notes + more


def parse_cells(cells: list[Cell], name: str) -> tuple[Parsed, list[str]]:
    """Each cell as IPython would run it, parsed; cells that cannot be are noted and skipped."""
    name = plain(name)
    if sum(len(cell.source) for cell in cells) > MAX_CODE_BYTES:
        raise NotebookError(f"its code is larger than {MAX_CODE_BYTES >> 20} MB")
    notes: list[str] = []
    parsed: Parsed = []
    transformer = TransformerManager()
    for cell in cells:
        try:
            python = _python_of(cell.source, transformer)
            parsed.append((cell, python, ast.parse(python)))
        except SyntaxError as error:
            notes.append(f"{name} {cell.label} has a syntax error (line {error.lineno}: {plain(error.msg)}); it was skipped")
        except (_Skipped, RecursionError, MemoryError, ValueError, RuntimeError) as error:
            notes.append(f"{name} {cell.label} was skipped: {plain(error) or type(error).__name__}")
    return parsed, notes


def module_from_parsed(parsed: Parsed, name: str) -> tuple[str, list[str]]:
    """The module that runs the kept statements of ``parsed``, and notes on what was left out."""
    name = plain(name)
    notes: list[str] = []
    own = {function for _, _, tree in parsed for function in _functions(tree.body)}
    kept_cells, left_out, defined = [], [], defaultdict(list)
    bound_kept, bound_dropped = set(), {}
    for cell, python, tree in parsed:
        plan = _Plan(own)
        plan.body(tree.body)
        lines = python.splitlines()
        for node in plan.dropped:
            for bound in _stored_names(node):
                bound_dropped.setdefault(bound, f"{cell.label} (`{_first_line_of(node, lines)}`)")
        dropped = {id(node) for node in plan.dropped}
        experiments = [_first_line_of(n, lines) for n in tree.body if id(n) in dropped and not _is_silent(n)]
        if experiments:
            more = f" and {len(experiments) - 1} more" if len(experiments) > 1 else ""
            left_out.append(f"{cell.label} (`{experiments[0]}`{more})")
        kept = [node for node in tree.body if id(node) not in dropped]
        for node in kept:
            bound_kept |= _stored_names(node)
            if isinstance(node, DEFINING):
                defined[node.name].append(cell.label)
        if kept:
            kept_cells.append((cell.label, _without(python, tree, plan.dropped)))
    if left_out:
        shown = "; ".join(left_out[:6]) + (f"; and {len(left_out) - 6} more cells" if len(left_out) > 6 else "")
        notes.append(
            f"{name}: the grader runs your definitions and calls your functions itself, so it left out "
            f"these top-level experiments: {shown}"
        )
    for function, labels in defined.items():
        if len(set(labels)) > 1:
            places = list(dict.fromkeys(labels))
            notes.append(
                f"{plain(function)} is defined in {', '.join(places[:-1])} and {places[-1]} of {name}; "
                f"the last one ({labels[-1]}) is graded, as after Run All"
            )
    dropped_names = {key: value for key, value in bound_dropped.items() if key not in bound_kept}
    source = MODULE.format(prefix=repr(f"{name}, "), cells=repr(kept_cells), dropped=repr(dropped_names))
    return source, notes


def notebook_to_module(path) -> tuple[str, list[str]]:
    """Return (module source, notes) for the notebook file at ``path`` (a trusted path)."""
    with open(path, "rb") as handle:
        data = handle.read()
    return cells_to_module(notebook_cells(data), getattr(path, "name", str(path)))


class _Skipped(Exception):
    pass


def _python_of(source: str, transformer: TransformerManager) -> str:
    """A cell's source as the Python IPython would run."""
    first = source.lstrip("\n").split("\n", 1)[0].strip()
    if first.startswith("%%"):
        magic = first[2:].split()[0] if first[2:].split() else ""
        if magic not in PYTHON_CELL_MAGICS:
            raise _Skipped(f"it is a %%{plain(magic, 20)} cell, not Python")
        source = source.lstrip("\n").split("\n", 1)[1] if "\n" in source.lstrip("\n") else ""
    escaped = len(ESCAPED_LINE.findall(source))
    if escaped * len(source) > MAX_TRANSFORM_WORK:
        raise _Skipped(f"it has {escaped} magic or shell lines; split it into smaller cells")
    return transformer.transform_cell(source)


class _Plan:
    """Which statements of a cell to leave out (see the module's docstring for the rule)."""

    def __init__(self, own: set[str]):
        self.own = own
        self.dropped: list[ast.stmt] = []  # outermost statements left out

    def body(self, statements: list[ast.stmt]) -> bool:
        """Mark the statements to leave out; return whether the kept ones set a name."""
        sets = False
        for node in statements:
            kept = self.statement(node)
            if kept is None:
                self.dropped.append(node)
            else:
                sets = sets or kept
        return sets

    def statement(self, node: ast.stmt) -> bool | None:
        """None: leave it out; otherwise keep it, and whether it sets a name."""
        if isinstance(node, BINDING):
            return True
        if isinstance(node, ASSIGNING):
            return None if self.runs_own(node) else True
        if isinstance(node, BLOCKS):
            if any(self.runs_own(head) for head in _heads(node)):
                return None
            mark = len(self.dropped)
            sets = [self.body(body) for body in _bodies(node)]
            if not any(sets):
                del self.dropped[mark:]
                return None
            return True
        if isinstance(node, CONTROL):
            return None if self.runs_own(node) else False
        return None  # bare expressions: experiments, prints, plots, magics

    def runs_own(self, node: ast.AST) -> bool:
        return any(
            isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in self.own
            for call in ast.walk(node)
        )


def _heads(node: ast.stmt) -> list[ast.AST]:
    if isinstance(node, (ast.If, ast.While)):
        return [node.test]
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return [node.iter]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [item.context_expr for item in node.items]
    if isinstance(node, ast.Match):
        return [node.subject]
    return []


def _bodies(node: ast.stmt) -> list[list[ast.stmt]]:
    if isinstance(node, ast.Match):
        return [case.body for case in node.cases]
    handlers = [handler.body for handler in getattr(node, "handlers", [])]
    return [node.body, *handlers, getattr(node, "orelse", []), getattr(node, "finalbody", [])]


def _functions(statements: list[ast.stmt]) -> set[str]:
    """Functions the notebook defines at top level, also inside top-level blocks."""
    names = set()
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, BLOCKS):
            for body in _bodies(node):
                names |= _functions(body)
    return names


def _stored_names(node: ast.AST) -> set[str]:
    """The global names a top-level statement sets (not the locals of the functions it defines)."""
    names, stack = set(), [node]
    while stack:  # by hand, not recursion: an expression can nest thousands deep
        current = stack.pop()
        if isinstance(current, DEFINING):
            names.add(current.name)
        elif isinstance(current, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in current.names}
        elif isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store):
            names.add(current.id)
        else:
            stack.extend(ast.iter_child_nodes(current))
    return names


def _is_silent(node: ast.stmt) -> bool:
    """Left out without a word: values shown at the end of a cell, prints, magics and shell lines."""
    if not isinstance(node, ast.Expr):
        return False
    if not isinstance(node.value, ast.Call):
        return True
    if isinstance(node.value.func, ast.Name) and node.value.func.id in ("print", "display"):
        return True
    root = node.value
    while isinstance(root, (ast.Call, ast.Attribute)):
        root = root.func if isinstance(root, ast.Call) else root.value
        if isinstance(root, ast.Call) and isinstance(root.func, ast.Name) and root.func.id == "get_ipython":
            return True
    return False


def _first_line_of(node: ast.stmt, lines: list[str]) -> str:
    line = lines[node.lineno - 1][node.col_offset :].strip() if node.lineno <= len(lines) else ""
    return plain(line, 60) + (" ..." if node.end_lineno and node.end_lineno > node.lineno else "")


def _without(source: str, tree: ast.Module, dropped: list[ast.stmt]) -> str:
    """``source`` with each dropped statement replaced by ``pass`` on its first line, so the
    kept lines keep their line numbers (the student's tracebacks point into their cell)."""
    lines = source.splitlines()
    for node in sorted(dropped, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        first, last = node.lineno - 1, node.end_lineno - 1
        prefix, suffix = lines[first][: node.col_offset], lines[last][node.end_col_offset :]
        lines[first] = prefix + "pass" + suffix
        for index in range(first + 1, last + 1):
            lines[index] = ""
    edited = "\n".join(lines) + "\n"
    try:
        ast.parse(edited)
        return edited
    except SyntaxError:  # a left-out statement shared a line with a kept one in an unusual way
        ids = {id(node) for node in dropped}
        return ast.unparse(_Replace(ids).visit(tree)) + "\n"


class _Replace(ast.NodeTransformer):
    def __init__(self, ids: set[int]):
        self.ids = ids

    def generic_visit(self, node):
        if id(node) in self.ids:
            return ast.copy_location(ast.Pass(), node)
        return super().generic_visit(node)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return plain(text[0], 300) if text else type(error).__name__
