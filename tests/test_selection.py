"""One rule decides which files of a submission are read: the batch's hash and packed copy
and the self-check's guess of the assignment follow what load() grades.

Each expectation below comes from the loader's rule (the shallowest file with each module
name, the assignment's notebook, importable .py files beside the module files; nothing in
skipped or hidden folders; a file over its cap or a link is refused whatever it holds), not
from running the hash."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from grader import assignments
from grader.batch.contents import pack, submission_hash
from grader.platforms.local import ConfigError, detect_assignment
from grader.submission import SubmissionError, load
from grader.submission.files import MAX_DEPTH, MAX_ENTRIES, MAX_FILE_BYTES

AUTODIFF = assignments.get("autodiff")
REFERENCE = ROOT / "reference" / "autodiff"
OVER_CAP = MAX_FILE_BYTES + 1


def _submission(folder: Path) -> Path:
    shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("__pycache__", "variants"))
    (folder / "helper.py").write_text("SCALE = 1\n")  # beside the module files: nn.py may import it
    (folder / "big.py").write_bytes(b"#" * OVER_CAP)  # beside them too, but refused for its size
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "nn.cpython-311.pyc").write_bytes(b"compiled")
    (folder / "old").mkdir()
    (folder / "old" / "nn.py").write_text("# an older copy, deeper than the graded one\n")
    (folder / "old" / "util.py").write_text("X = 1\n")  # beside no graded file
    (folder / "README.md").write_text("notes\n")
    return folder


def _append(path: Path, text: str = "\n# edited\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(text)


def _graded(folder: Path, scratch: Path) -> tuple:
    """What load() made of the folder: the package's files, what is missing and the notes."""
    shutil.rmtree(scratch, ignore_errors=True)
    loaded = load(AUTODIFF, folder, scratch)
    package = scratch / "src" / loaded.package
    return {p.name: p.read_bytes() for p in package.iterdir()}, loaded.missing, loaded.notes


EDITS = {  # name: (what the student changes, whether load() grades it)
    "a module file": (lambda f: _append(f / "nn.py"), True),
    "a helper beside the module files": (lambda f: _append(f / "helper.py"), True),
    "a new helper beside the module files": (lambda f: (f / "extra.py").write_text("Y = 2\n"), True),
    "a helper shrunk under the size cap": (lambda f: (f / "big.py").write_text("Z = 3\n"), True),
    "a helper still over the size cap": (lambda f: _append(f / "big.py", "#"), False),
    "a cached compile": (lambda f: _append(f / "__pycache__" / "nn.cpython-311.pyc"), False),
    "a deeper copy of a module file": (lambda f: _append(f / "old" / "nn.py"), False),
    "a .py beside no module file": (lambda f: _append(f / "old" / "util.py"), False),
    "a README": (lambda f: _append(f / "README.md"), False),
    "a hidden folder": (lambda f: _append(f / ".git" / "HEAD"), False),
    "a checkpoint of the notebook": (lambda f: _append(f / ".ipynb_checkpoints" / "autodiff.ipynb"), False),
    "the package's __init__.py": (lambda f: _append(f / "__init__.py"), False),
}


@pytest.mark.parametrize("edit", EDITS)
def test_the_hash_changes_when_and_only_when_a_graded_file_changes(tmp_path, edit):
    folder = _submission(tmp_path / "alice")
    before, graded_before = submission_hash(folder, AUTODIFF), _graded(folder, tmp_path / "scratch")
    change, graded = EDITS[edit]
    change(folder)
    assert (submission_hash(folder, AUTODIFF) != before) is graded
    assert (_graded(folder, tmp_path / "scratch") != graded_before) is graded  # the rule is the loader's


def test_a_notebook_counts_up_to_its_own_cap_and_is_packed(tmp_path):
    folder = tmp_path / "bo"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", outputs=[])])
    notebook.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="0" * OVER_CAP)]  # saved output
    (folder / "autodiff.ipynb").write_text(nbformat.writes(notebook))
    before = submission_hash(folder, AUTODIFF)
    notebook.cells[0].source = "x = 2"
    (folder / "autodiff.ipynb").write_text(nbformat.writes(notebook))
    assert submission_hash(folder, AUTODIFF) != before  # larger than a source file, still graded
    name, data = pack(folder, AUTODIFF)
    assert zipfile.ZipFile(io.BytesIO(data)).read("bo/autodiff.ipynb") == (folder / "autodiff.ipynb").read_bytes()


def test_a_link_counts_by_being_a_link_never_by_what_it_points_to(tmp_path):
    folder = _submission(tmp_path / "alice")
    outside = tmp_path / "outside.py"
    outside.write_text("SECRET = 1\n")
    (folder / "linked.py").symlink_to(outside)
    before = submission_hash(folder, AUTODIFF)
    _append(outside)
    assert submission_hash(folder, AUTODIFF) == before  # load() refuses it whatever it holds
    name, data = pack(folder, AUTODIFF)
    assert "alice/linked.py" not in zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_the_packed_copy_grades_as_the_folder_does(tmp_path):
    folder = _submission(tmp_path / "alice")
    name, data = pack(folder, AUTODIFF)
    (tmp_path / name).write_bytes(data)
    members = sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert members == ["alice/", "alice/helper.py", "alice/list2d.py", "alice/matrix.py", "alice/nn.py"]
    packed, _, _ = _graded(tmp_path / name, tmp_path / "from-zip")
    assert packed == _graded(folder, tmp_path / "from-folder")[0]


def test_a_folder_too_large_to_walk_hashes_by_its_refusal(tmp_path):
    folder = _submission(tmp_path / "alice")
    (folder / "data").mkdir()
    for number in range(MAX_ENTRIES):
        (folder / "data" / f"{number}.png").touch()
    with pytest.raises(SubmissionError, match=f"more than {MAX_ENTRIES}"):
        load(AUTODIFF, folder, tmp_path / "scratch")
    before = submission_hash(folder, AUTODIFF)
    _append(folder / "nn.py")
    assert submission_hash(folder, AUTODIFF) == before  # not graded either way
    with pytest.raises(ConfigError, match=f"more than {MAX_ENTRIES}"):
        detect_assignment(folder)


def test_the_self_check_finds_the_assignment_where_the_loader_does(tmp_path):
    deep = tmp_path / "repo" / Path(*["sub"] * (MAX_DEPTH - 1))
    shutil.copytree(REFERENCE, deep, ignore=shutil.ignore_patterns("__pycache__", "variants"))
    assert detect_assignment(tmp_path / "repo") == "autodiff"
    shutil.move(tmp_path / "repo", tmp_path / "cache")
    (tmp_path / "repo").mkdir()
    shutil.move(tmp_path / "cache", tmp_path / "repo" / "__pycache__")  # a folder the loader skips
    with pytest.raises(ConfigError, match="no .grader.toml here and no assignment's files"):
        detect_assignment(tmp_path / "repo")
