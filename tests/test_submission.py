"""Loading submissions: package imports, notebooks read as Jupyter runs them, hostile files.

Loader-level tests read what ``grader.submission.load`` lays out (and run a notebook's
generated module here: the test's own cells are trusted); a few grade end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, read_results, run_grader
from grader import assignments
from grader.submission import SubmissionError, load
from grader.submission.files import MAX_DEPTH, MAX_ENTRIES, plain
from grader.submission.notebook import cells_to_module, percent_cells

DESCENT = assignments.get("descent")
AUTODIFF = assignments.get("autodiff")
REFERENCE_DESCENT = ROOT / "reference" / "descent" / "descent.py"


def write_notebook(path: Path, *cells: str) -> Path:
    """A notebook whose code cells are ``cells``; a markdown cell first, so code cell k is "cell k+1"."""
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Homework")] + [nbformat.v4.new_code_cell(c) for c in cells]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def run_notebook(tmp_path: Path, *cells: str) -> tuple[dict, list[str]]:
    """Load a notebook of ``cells`` for descent and run its generated module here."""
    notebook = write_notebook(tmp_path / "descent.ipynb", *cells)
    submission = load(DESCENT, notebook, tmp_path / "scratch")
    module = Path(submission.root, *submission.modules["descent"].split(".")).with_suffix(".py")
    namespace = {"__file__": str(module), "__name__": "notebook_under_test"}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    return namespace, submission.notes


# ------------------------------------------------------------------------------------
# Notebooks read as Jupyter runs them
# ------------------------------------------------------------------------------------


def test_a_comment_ending_in_a_question_mark_stays_code(tmp_path):
    namespace, _ = run_notebook(
        tmp_path, "calls = []\ndef step():\n    calls.append('zero_grad')  # needed every batch?\n    return 1"
    )
    namespace["step"]()
    assert namespace["calls"] == ["zero_grad"]


def test_magics_and_shell_lines_do_nothing(tmp_path):
    namespace, notes = run_notebook(tmp_path, "%matplotlib inline\n!pip install tqdm\nfiles = !ls\nvalue = 3\nvalue?")
    assert namespace["value"] == 3 and namespace["_grader_cell_errors"] == []
    assert not any("left out" in note for note in notes), "magics are not experiments"


def test_colab_if_and_try_blocks_set_their_names(tmp_path):
    namespace, _ = run_notebook(
        tmp_path,
        "import torch\nif torch.cuda.is_available():\n    device = 'cuda'\n    print('GPU')\nelse:\n    device = 'cpu'",
        "try:\n    from tqdm.auto import tqdm\nexcept ImportError:\n    tqdm = None",
        "with open(__file__) as handle:\n    first = handle.readline()",
        "table = {}\nfor name in ('a', 'b'):\n    table[name] = len(name)\n    scale = 2",
    )
    assert namespace["device"] == "cpu"
    assert namespace["tqdm"] is not None and namespace["tqdm"].__module__.startswith("tqdm")
    assert namespace["first"].startswith('"""')
    assert namespace["scale"] == 2
    assert namespace["_grader_cell_errors"] == []


def test_experiments_are_left_out_and_listed(tmp_path):
    namespace, notes = run_notebook(
        tmp_path,
        "def train():\n    raise AssertionError('the grader must not run the experiments')",
        "losses = train()\ntrain()",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",
        "for step in range(10**12):\n    pass",
        "for epoch in range(100):\n    last = train()",
    )
    assert namespace["_grader_cell_errors"] == []
    assert "losses" not in namespace and "last" not in namespace
    assert "cell 3" in namespace["_grader_dropped"]["losses"]
    [left_out] = [note for note in notes if "left out" in note]
    for label in ("cell 3 (`losses = train()` and 1 more)", "cell 4 (`plt.plot", "cell 5 (`for step", "cell 6"):
        assert label in left_out, left_out


def test_the_last_definition_counts_and_the_note_names_its_cell(tmp_path):
    namespace, notes = run_notebook(tmp_path, "def f():\n    return 'draft'", "x = 1", "def f():\n    return 'final'")
    assert namespace["f"]() == "final"
    assert "f is defined in cell 2 and cell 4 of descent.ipynb; the last one (cell 4) is graded, as after Run All" in notes


def test_a_syntax_error_is_shown_with_its_cell_and_the_other_cells_load(tmp_path):
    namespace, notes = run_notebook(tmp_path, "a = 1", "def broken(:\n    pass", "b = 2")
    assert namespace["a"] == 1 and namespace["b"] == 2
    assert any(note.startswith("descent.ipynb cell 3 has a syntax error (line 1") for note in notes), notes


def test_a_failing_statement_costs_only_the_names_it_sets(tmp_path):
    namespace, _ = run_notebook(tmp_path, "import not_a_package_of_the_grader\nA = 1\ndef f():\n    return A")
    assert namespace["f"]() == 1
    [(label, line, names, error)] = namespace["_grader_cell_errors"]
    assert (label, line, names) == ("cell 2", 1, ["not_a_package_of_the_grader"])
    assert error.startswith("ModuleNotFoundError")


def test_cell_magics_keep_a_python_body_and_skip_other_languages(tmp_path):
    namespace, notes = run_notebook(tmp_path, "%%time\ntimed = 1", "%%bash\necho hi", "%%capture output\ncaptured = 2")
    assert namespace["timed"] == 1 and namespace["captured"] == 2
    assert any("cell 3 was skipped: it is a %%bash cell" in note for note in notes), notes


def test_a_py_percent_script_is_read_like_its_notebook(tmp_path):
    script = (
        "# ---\n# jupyter:\n#   jupytext:\n#     formats: ipynb,py:percent\n# ---\n\n"
        "# %% [markdown]\n# # Homework\n\n"
        "# %%\nimport math\n\ndef area(r):\n    return math.pi * r * r\n\n"
        "# %%\nresult = area(2)  # an experiment\nprint(result)\n"
    )
    cells = percent_cells(script)
    assert [cell.label for cell in cells] == ["cell at line 1", "cell at line 10", "cell at line 16"]
    source, notes = cells_to_module(cells, "descent.py")
    namespace: dict = {}
    exec(compile(source, "descent.py", "exec"), namespace)
    assert namespace["area"](1) == pytest.approx(3.14159, rel=1e-4) and "result" not in namespace
    assert any("cell at line 16 (`result = area(2)" in note for note in notes), notes


def test_saved_outputs_do_not_count_against_the_size_limit(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("value = 7")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (8 << 20))]
    nbformat.write(notebook, str(tmp_path / "descent.ipynb"))
    assert (tmp_path / "descent.ipynb").stat().st_size > 8 << 20
    submission = load(DESCENT, tmp_path / "descent.ipynb", tmp_path / "scratch")
    assert submission.modules == {"descent": "submission._notebook"}


def test_code_over_the_limit_is_a_zero_with_a_reason(tmp_path):
    write_notebook(tmp_path / "descent.ipynb", "x = 1\n" * 200_000)
    with pytest.raises(SubmissionError, match="its code is larger than 1 MB"):
        load(DESCENT, tmp_path / "descent.ipynb", tmp_path / "scratch")


def test_a_crafted_cell_of_magics_is_skipped_not_transformed_for_minutes(tmp_path):
    # IPython re-tokenizes the whole cell for each magic it rewrites: 100 KB of them is quadratic.
    namespace, notes = run_notebook(tmp_path, "!a\n" * 33_000, "kept = True")
    assert namespace["kept"] is True
    assert any("cell 2 was skipped: it has 33000 magic or shell lines" in note for note in notes), notes


@pytest.mark.parametrize(
    "content",
    ["[" * 100_000 + "]" * 100_000, json.dumps({"cells": [{"cell_type": "code", "source": {"a": 1}}], "nbformat": 4})],
    ids=["nested-json", "cell-source-not-text"],
)
def test_a_crafted_notebook_is_a_zero_with_a_reason(tmp_path, content):
    (tmp_path / "descent.ipynb").write_text(content)
    with pytest.raises(SubmissionError, match="is not a readable Jupyter notebook"):
        load(DESCENT, tmp_path / "descent.ipynb", tmp_path / "scratch")


def test_a_stub_py_beside_a_completed_notebook_grades_the_notebook(tmp_path):
    folder = tmp_path / "repo"
    write_notebook(folder / "descent.ipynb", REFERENCE_DESCENT.read_text())
    (folder / "descent.py").write_text((ROOT / "assignments" / "descent" / "descent.py").read_text())
    submission = load(DESCENT, folder, tmp_path / "scratch")
    assert submission.modules == {"descent": "submission._notebook"}
    assert any(note.startswith("graded descent.ipynb: it implements the functions that descent.py") for note in submission.notes)


def test_a_completed_py_beside_a_stub_notebook_grades_the_py(tmp_path):
    folder = tmp_path / "repo"
    write_notebook(folder / "descent.ipynb", (ROOT / "assignments" / "descent" / "descent.py").read_text())
    (folder / "descent.py").write_text(REFERENCE_DESCENT.read_text())
    submission = load(DESCENT, folder, tmp_path / "scratch")
    assert submission.modules == {"descent": "submission.descent"}


# ------------------------------------------------------------------------------------
# Imports as repositories write them
# ------------------------------------------------------------------------------------


def _course_library(folder: Path, nn_imports: str) -> Path:
    """The reference autodiff library laid out as the package ``folder`` (like the course's match/)."""
    folder.mkdir(parents=True)
    for name in ("list2d", "matrix", "nn", "__init__"):
        text = (ROOT / "reference" / "autodiff" / f"{name}.py").read_text()
        if name == "nn":
            text = text.replace("from .list2d import List2D\nfrom .matrix import Matrix", nn_imports)
        (folder / f"{name}.py").write_text(text)
    return folder


IDENTITY_SCRIPT = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
from grader.sandbox.child import _StudentPackageAliases
package = importlib.import_module("submission")
sys.meta_path.insert(0, _StudentPackageAliases("submission", package._GRADER_LAYOUT))
nn = importlib.import_module("submission.nn")
import match.matrix, match.list2d, matrix
from match import Matrix
assert Matrix is match.matrix.Matrix is matrix.Matrix is importlib.import_module("submission.matrix").Matrix
assert nn.Matrix is Matrix and nn.List2D is match.list2d.List2D
assert sys.modules["match"] is package
print("one module object")
"""


def test_the_course_librarys_package_name_gives_the_students_own_modules(tmp_path):
    """nn.py written as the course library writes it: ``import match``, ``from match import Matrix``."""
    _course_library(tmp_path / "repo" / "match", "import match\nfrom match import Matrix\nfrom match.list2d import List2D")
    submission = load(AUTODIFF, tmp_path / "repo", tmp_path / "scratch")
    assert submission.modules == {m: f"submission.{m}" for m in ("list2d", "matrix", "nn")}
    done = subprocess.run(
        [sys.executable, "-c", IDENTITY_SCRIPT, str(submission.root)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.stdout.strip() == "one module object", done.stderr


def test_only_names_that_are_not_installed_become_aliases(tmp_path):
    folder = _course_library(tmp_path / "repo" / "json", "from json import Matrix\nfrom .list2d import List2D")
    (folder / "random.py").write_text("SHADOW = True\n")  # a helper named like the standard library
    submission = load(AUTODIFF, tmp_path / "repo", tmp_path / "scratch")
    layout = (submission.root / "submission" / "__init__.py").read_text()
    assert '"aliases": ["autodiff"]' in layout, layout  # not json: the standard library wins
    assert '"random"' in layout and '"bare": ["list2d", "matrix", "nn"]' in layout


@pytest.mark.parametrize("name", ["pkg_match_library", "pkg_autodiff_absolute", "pkg_relative_helper"])
def test_a_package_layout_repository_gets_full_marks(name, autodiff_examples, tmp_path):
    done = run_grader("grade", "autodiff", autodiff_examples[name].path, "--results", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    results = read_results(tmp_path / "r.json")
    assert results["score"] == 100, [t["output"] for t in results["tests"] if t["score"] < t["max_score"]]


def test_colab_notebook_with_tqdm_and_a_device_block_gets_full_marks(tmp_path):
    done = run_grader("grade", "descent", ROOT / "examples/descent/variants/nb_colab", "--results", tmp_path / "r.json")
    results = read_results(tmp_path / "r.json")
    assert results["score"] == 100, [t["output"] for t in results["tests"] if t["score"] < t["max_score"]]
    assert "left out these top-level experiments" in results["output"]


def test_an_unavailable_package_costs_only_the_function_that_imports_it(tmp_path):
    source = REFERENCE_DESCENT.read_text().replace(
        "def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):",
        "def train_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):\n    import seaborn",
    ).replace("def train_batch_gd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):",
              "def train_batch_gd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):\n"
              "    from tqdm.notebook import tqdm\n    range_ = tqdm(range(1))")
    (tmp_path / "descent.py").write_text(source)
    done = run_grader("grade", "descent", tmp_path / "descent.py", "--results", tmp_path / "r.json")
    results = read_results(tmp_path / "r.json")
    lost = {t["name"].split(":")[0] for t in results["tests"] if t["score"] < t["max_score"]}
    assert lost == {"train_sgd"}, done.stdout
    failed = [t["output"] for t in results["tests"] if t["name"].startswith("train_sgd")]
    assert all("seaborn" in output and "tqdm" in output and "numpy" in output for output in failed), failed[0]


# ------------------------------------------------------------------------------------
# Hostile files
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["reference", "root-only", "dev-zero"])
def test_a_notebook_that_links_out_of_the_submission_is_refused(tmp_path, target):
    secret = tmp_path / "secret.ipynb"
    write_notebook(secret, REFERENCE_DESCENT.read_text())
    secret.chmod(0o600)
    link = {"reference": ROOT / "reference" / "descent" / "descent.ipynb", "root-only": secret, "dev-zero": Path("/dev/zero")}
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "descent.ipynb").symlink_to(link[target])
    with pytest.raises(SubmissionError, match="descent.ipynb is a link; hand in the file itself"):
        load(DESCENT, tmp_path / "repo", tmp_path / "scratch")
    with pytest.raises(SubmissionError, match="is a link"):
        load(DESCENT, tmp_path / "repo" / "descent.ipynb", tmp_path / "scratch2")


def test_a_module_file_that_links_out_costs_only_that_module(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("list2d", "matrix"):
        (repo / f"{name}.py").write_text((ROOT / "reference" / "autodiff" / f"{name}.py").read_text())
    (repo / "nn.py").symlink_to(ROOT / "reference" / "autodiff" / "nn.py")
    submission = load(AUTODIFF, repo, tmp_path / "scratch")
    assert submission.missing == {"nn": "nn.py is a link; hand in the file itself"}
    assert set(submission.modules) == {"list2d", "matrix"}


def test_a_hard_link_to_another_file_is_refused(tmp_path):
    elsewhere = tmp_path / "classmate" / "descent.py"
    elsewhere.parent.mkdir()
    elsewhere.write_text(REFERENCE_DESCENT.read_text())
    (tmp_path / "repo").mkdir()
    os.link(elsewhere, tmp_path / "repo" / "descent.py")
    with pytest.raises(SubmissionError, match="^descent.py is a hard link to another file; hand in the file itself$"):
        load(DESCENT, tmp_path / "repo", tmp_path / "scratch")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    (tmp_path / "repo").mkdir()
    os.mkfifo(tmp_path / "repo" / "descent.py")
    with pytest.raises(SubmissionError, match="^descent.py is not a regular file$"):
        load(DESCENT, tmp_path / "repo", tmp_path / "scratch")


def test_folder_walks_are_bounded_in_depth_and_entries(tmp_path):
    deep = tmp_path / "deep"
    folder = str(deep)
    os.mkdir(folder)
    for _ in range(1500):  # one level at a time: makedirs recurses once per level
        folder += "/d"
        os.mkdir(folder)
    Path(folder, "descent.py").write_text(REFERENCE_DESCENT.read_text())
    (deep / "d" / "descent.py").write_text(REFERENCE_DESCENT.read_text())
    try:
        assert load(DESCENT, deep, tmp_path / "scratch").modules == {"descent": "submission.descent"}
    finally:  # pytest's own clean-up of old temporary folders recurses once per level
        while folder != str(deep):
            for entry in os.scandir(folder):
                os.unlink(entry.path)
            os.rmdir(folder)
            folder = os.path.dirname(folder)
    hidden = tmp_path / "hidden"
    folder = hidden
    for _ in range(MAX_DEPTH + 1):
        folder = folder / "d"
    folder.mkdir(parents=True)
    (folder / "descent.py").write_text(REFERENCE_DESCENT.read_text())
    with pytest.raises(SubmissionError, match="none of the assignment's files"):
        load(DESCENT, hidden, tmp_path / "scratch2")
    wide = tmp_path / "wide"
    wide.mkdir()
    for index in range(MAX_ENTRIES + 1):
        (wide / f"f{index}").touch()
    with pytest.raises(SubmissionError, match=f"more than {MAX_ENTRIES} files"):
        load(DESCENT, wide, tmp_path / "scratch3")


def _zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("name", ["../../escape/descent.py", "/tmp/escape/descent.py", "C:/escape/descent.py"])
def test_a_zip_member_named_outside_its_folder_is_left_out_and_noted(tmp_path, name):
    archive = _zip(tmp_path / "hw.zip", {"hw/descent.py": REFERENCE_DESCENT.read_bytes(), name: b"raise SystemExit"})
    submission = load(DESCENT, archive, tmp_path / "scratch")
    assert submission.modules == {"descent": "submission.descent"}
    assert submission.notes == ["hw.zip: left out 1 member(s) named outside the archive's folder"]
    assert not (tmp_path / "escape").exists() and not Path("/tmp/escape/descent.py").exists()
    packaged = (submission.root / "submission" / "descent.py").read_bytes()
    assert packaged == REFERENCE_DESCENT.read_bytes()


@pytest.mark.parametrize(
    "members, reason",
    [
        ({f"f{i}.txt": b"" for i in range(2001)}, "holds more than 2000 files"),
        ({"descent.py": b"\0" * (30 << 20)}, "compressed more than 200:1"),
    ],
    ids=["members", "ratio"],
)
def test_zip_extraction_is_bounded(tmp_path, members, reason):
    archive = _zip(tmp_path / "hw.zip", members)
    with pytest.raises(SubmissionError, match=reason):
        load(DESCENT, archive, tmp_path / "scratch")


def test_a_zip_over_the_unpacked_size_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("grader.submission.archive.MAX_UNPACKED_BYTES", 1 << 20)
    members = {f"data{i}.bin": os.urandom(400_000) for i in range(3)}
    archive = _zip(tmp_path / "hw.zip", members, zipfile.ZIP_STORED)
    with pytest.raises(SubmissionError, match="unpacks to more than 1 MB"):
        load(DESCENT, archive, tmp_path / "scratch")


def test_a_deflate64_member_is_a_clean_refusal(tmp_path):
    archive = _zip(tmp_path / "hw.zip", {"descent.py": REFERENCE_DESCENT.read_bytes()}, zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # the method field of both headers
        at = data.index(signature)
        data[at + offset : at + offset + 2] = (9).to_bytes(2, "little")  # 9: deflate64
    archive.write_bytes(bytes(data))
    with pytest.raises(SubmissionError, match="compression method the grader cannot read"):
        load(DESCENT, archive, tmp_path / "scratch")


def test_names_from_a_submission_reach_notes_as_plain_text(tmp_path):
    assert plain("a\x1b[31mred\x07\u202e.ipynb") == "a?[31mred??.ipynb"
    folder = tmp_path / "repo"
    write_notebook(folder / "hw\x1b[2J.ipynb", "def broken(:\n    pass")
    submission = load(DESCENT, folder, tmp_path / "scratch")
    assert submission.notes and all("\x1b" not in note for note in submission.notes)
    assert submission.files == {"descent": "hw?[2J.ipynb"}


def test_a_name_missing_because_of_its_cell_says_which_cell_and_why(tmp_path):
    """One function uses a name from a failed import, another a name only an experiment sets:
    each loses its own checks, and its message names the cell and the reason."""
    reference = REFERENCE_DESCENT.read_text()
    broken = reference.replace(
        "    train_losses: list[float] = []\n    valid_losses: list[float] = []\n    for _ in range(num_epochs):\n        X, y = next",
        "    sns.set_theme()\n    train_losses: list[float] = []\n    valid_losses: list[float] = []\n    for _ in range(num_epochs):\n        X, y = next",
    ).replace(
        "def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):\n",
        "def train_minibatch_sgd(model, criterion, optimizer, train_loader, valid_loader, num_epochs):\n"
        "    assert len(history) == 0\n",
    )
    assert broken.count("sns.set_theme()") == 1 and "history" in broken
    notebook = write_notebook(
        tmp_path / "descent.ipynb", "import seaborn as sns", broken, "history = make_loaders(None, None, 1)"
    )
    done = run_grader("grade", "descent", notebook, "--results", tmp_path / "r.json")
    results = read_results(tmp_path / "r.json")
    lost = {t["name"].split(":")[0] for t in results["tests"] if t["score"] < t["max_score"]}
    assert lost == {"train_batch_gd", "train_minibatch_sgd"}, done.stdout
    outputs = {t["name"].split(":")[0]: t["output"] for t in results["tests"] if t["score"] < t["max_score"]}
    assert "sns is set in cell 2, line 1, which failed when the grader ran it" in outputs["train_batch_gd"]
    assert "seaborn is neither in your submission nor one of the packages" in outputs["train_batch_gd"]
    assert "history is only set by cell 4 (" in outputs["train_minibatch_sgd"]
    assert "which the grader does not run" in outputs["train_minibatch_sgd"]
    assert "descent.ipynb, cell 3, line" in outputs["train_minibatch_sgd"], "the traceback points into the cell"


def test_a_percent_script_over_the_code_limit_is_a_zero_with_a_reason(tmp_path):
    (tmp_path / "descent.py").write_text("# %%\n" + "x = 1\n" * 200_000)
    with pytest.raises(SubmissionError, match="its code is larger than 1 MB"):
        load(DESCENT, tmp_path / "descent.py", tmp_path / "scratch")


def test_a_notebook_of_too_many_cells_is_refused_before_validation(tmp_path):
    cells = [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [], "execution_count": None}] * 5001
    (tmp_path / "descent.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(SubmissionError, match="it has more than 5000 cells"):
        load(DESCENT, tmp_path / "descent.ipynb", tmp_path / "scratch")


def test_check_in_the_students_repository_still_aliases_their_package(tmp_path, monkeypatch):
    """``check`` runs with the student's repository as the current folder (on sys.path): their
    autodiff/ is found there, and it is still theirs to alias, not an installed package."""
    _course_library(tmp_path / "repo" / "autodiff", "from autodiff.matrix import Matrix\nfrom .list2d import List2D")
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.syspath_prepend(str(tmp_path / "repo"))
    submission = load(AUTODIFF, tmp_path / "repo", tmp_path / "scratch")
    assert '"aliases": ["autodiff"]' in (submission.root / "submission" / "__init__.py").read_text()


def test_a_stub_that_imports_the_graders_known_good_mean_earns_nothing(tmp_path):
    """The probes hold known-good versions of the graded functions (so a bug costs only its own
    function); a submission that imports them instead of writing its own gets no point for them."""
    folder = tmp_path / "borrower"
    folder.mkdir()
    for name in ("list2d.py", "matrix.py", "nn.py"):
        (folder / name).write_text((ROOT / "reference/autodiff" / name).read_text())
    source = folder / "list2d.py"
    text = source.read_text()
    head = "    def mean(self) -> float:\n"
    assert text.count(head) == 1
    borrowed = (
        "    def mean(self) -> float:\n"
        "        from grader.assignments.autodiff.probes import good_list2d_mean\n"
        "        return good_list2d_mean(self)\n\n"
        "    def _own_mean(self) -> float:\n"
    )
    source.write_text(text.replace(head, borrowed))
    done = run_grader("grade", "autodiff", folder, "--results", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    lost = {t["name"] for t in read_results(tmp_path / "r.json")["tests"] if t["score"] < t["max_score"]}
    assert lost and {name.split(":")[0] for name in lost} == {"List2D.mean"}, lost


def test_what_counts_as_installed_does_not_depend_on_this_process(tmp_path, monkeypatch):
    """An earlier grade, a test or check's working folder may have imported or put on the path a
    module named like the student's package; the child's fresh interpreter still has none."""
    import types

    from grader.submission.layout import _installed

    (tmp_path / "autodiff").mkdir()
    (tmp_path / "autodiff" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "match", types.ModuleType("match"))
    assert not _installed("autodiff") and not _installed("match")
    assert _installed("json") and _installed("torch") and _installed("grader")


def _folder_examples():
    from examples.materialize import EXAMPLES

    return [(p.parent.parent.name, p.parent.name, p.name) for p in sorted(EXAMPLES.glob("*/*/*")) if p.is_dir()]


@pytest.mark.parametrize("assignment,kind,name", _folder_examples())
def test_every_folder_example_is_graded_as_labelled(assignment, kind, name, tmp_path):
    """Notebook and repository-layout examples: a variant gets full marks; a mistake loses
    exactly the checks of the functions its example.toml names."""
    from examples.materialize import materialize

    example = next(e for e in materialize(assignment, tmp_path / "built") if (e.kind, e.name) == (kind, name))
    done = run_grader("grade", assignment, example.path, "--results", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    lost = {t["name"].split(":")[0] for t in read_results(tmp_path / "r.json")["tests"] if t["score"] < t["max_score"]}
    assert lost == set(example.failing), lost
