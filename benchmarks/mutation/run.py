"""Mutation testing of the judging, scoring, batch-resume and sandbox modules (mutmut).

(Not the assignments' checks modules: docs/mutation.md says why and what they would need.)

A benchmark, not a CI step: it takes tens of minutes. It copies the last commit (with the
test files below as they are now) into a work folder with its own environment (see
benchmarks/planted_bugs.py), once per module, writes mutmut's configuration there with that
module's tests, and runs mutmut with one worker at low priority. Then it prints, per module, how many mutants the tests killed, how
many survived and how many timed out, and lists the survivors; docs/mutation.md explains
each.

    .venv/bin/pip install -e '.[mutation]'                  # or: .venv/bin/pip install mutmut
    .venv/bin/python benchmarks/mutation/run.py              # every module below
    .venv/bin/python benchmarks/mutation/run.py scoring run  # those whose path holds a word
    .venv/bin/python benchmarks/mutation/run.py --work /tmp/mutation --report-only

The tests chosen never start a sandbox child: mutmut's mutants live in ``mutants/``, which
a sandbox child (``python -I``, a minimal environment) neither imports nor could run, so
a test that grades through the sandbox would test the unmutated code. Each module's tests
judge, score, decode and resume on data written in the test, which also keeps the run fast.
mutmut runs, for each mutant, only the selected tests that call the mutated function; the
reaper's tests call it in a subprocess, which mutmut cannot follow, so this script runs each
of its mutants against the whole selection (IN_A_SUBPROCESS).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from planted_bugs import NICE, make_copy  # noqa: E402

# Module -> the tests that judge it without a sandbox child (pytest node ids or files).
TARGETS = {
    "grader/judging.py": ["tests/test_limits.py::test_a_judge_asked_for_gigabytes_fails_the_check_and_the_grader_goes_on",
                          "tests/test_limits.py::test_a_judge_that_raises_on_hostile_data_fails_only_its_check",
                          "tests/test_limits.py::test_a_judge_starved_of_cpu_is_ungraded_not_failed",
                          "tests/test_judging_limits.py"],
    "grader/scoring.py": ["tests/test_scoring_rules.py"],
    "grader/variants.py": ["tests/test_variants_guard.py",
                           "tests/test_private.py::test_hidden_checks_must_live_under_the_reference",
                           "tests/test_private.py::test_a_variant_must_name_a_public_check",
                           "tests/test_private.py::test_each_public_check_is_guarded_with_its_name_and_points_kept"],
    "grader/batch/gradebook.py": ["tests/test_gradebook_rules.py", "tests/test_resume.py",
                                  "tests/test_batch.py::test_gradebook_writes_a_student_entirely_or_not_at_all",
                                  "tests/test_batch.py::test_a_grader_failure_never_replaces_a_grade_of_the_same_files_and_grader",
                                  "tests/test_limits.py::test_a_grading_that_fails_under_a_new_grader_does_not_keep_the_old_grade",
                                  "tests/test_limits.py::test_a_new_file_version_that_fails_does_not_keep_the_old_files_grade"],
    "grader/sandbox/answers.py": ["tests/test_limits.py::test_an_answer_out_of_bounds_is_rejected_before_it_costs_memory",
                                  "tests/test_limits.py::test_floats_decode_as_floats_nan_and_infinities_included",
                                  "tests/test_answer_bounds.py"],
    # Its pure parts only: the bubblewrap arguments, the choice of layers, the refusal and the
    # notes; the rest starts children (test_sandbox.py), which mutmut's mutants cannot reach.
    "grader/sandbox/isolation.py": [f"tests/test_sandbox_layers.py::test_{name}" for name in (
        "bubblewrap_binds_every_path_read_only_and_gives_only_work_writable", "bubblewrap_hides_the_reference_and_the_checks",
        "bubblewrap_gives_the_child_namespaces_a_session_proc_and_dev_of_its_own",
        "work_and_its_home_are_sticky_and_shared_or_closed_for_a_fork_server",
        "bubblewrap_hides_a_folder_under_a_tmpfs_a_file_under_dev_null_and_skips_what_is_not_there",
        "a_merged_usr_link_stays_a_link_and_any_other_link_is_bound", "missing_parents_are_made_open_to_the_childs_uid_once_each",
        "one_bind_covers_the_paths_inside_it", "the_child_reads_the_system_and_this_interpreter_never_the_whole_filesystem",
        "the_reference_is_hidden_beside_the_grader_and_wherever_it_imports_from", "system_tools_are_found_on_a_fixed_path_never_the_callers",
        "the_strongest_combination_that_starts_is_chosen", "each_combination_that_failed_is_named_with_why",
        "grader_isolation_caps_the_namespaces_and_says_so", "layers_turned_off_are_not_tried_and_are_named",
        "without_linux_nothing_is_tried", "grader_require_isolation_refuses_what_is_not_held",
        "official_grading_as_root_refuses_a_child_at_uid_0_and_a_self_check_does_not", "what_a_weaker_sandbox_leaves_open_is_said",
        "without_linux_everything_is_open_and_advisory", "the_notes_name_the_mechanisms_and_every_gap")],
    # Only tests that call the reaper in a subprocess (IN_A_SUBPROCESS): never one that calls it in this process.
    "grader/sandbox/reaper.py": ["tests/test_sandbox_layers.py::test_reaper_kills_what_left_the_process_group",
                                 "tests/test_sandbox_layers.py::test_reaper_spares_a_sandbox_child_still_in_use_and_the_graders_own_children",
                                 "tests/test_sandbox_layers.py::test_reaper_spares_the_graders_own_children_when_the_grader_has_no_new_privs",
                                 "tests/test_sandbox_layers.py::test_reaper_reaping_returns_once_nothing_is_left_and_never_kills"],
    "grader/sandbox/cputime.py": ["tests/test_sandbox_layers.py::test_cpu_time_counts_the_whole_tree_and_never_goes_down",
                                  "tests/test_sandbox_layers.py::test_a_spinning_tree_is_runnable"],
    "grader/batch/run.py": ["tests/test_resume.py"],  # the slowest: each of its tests runs several batches
}
# Modules whose tests run them in a subprocess: the reaper's scenarios run in a process of
# their own (the reaper makes its process a child subreaper, which mutmut's must never be)
# in a pid namespace of their own (the reaper kills by pid: a mutant could kill anything
# this user can; CONTAINED makes the tests fail rather than run without one). mutmut maps
# a test to the functions it calls in its own process only, so it finds no test for these
# mutants; run_each_mutant runs each of them against the whole selection instead.
IN_A_SUBPROCESS = {"grader/sandbox/reaper.py"}
CONTAINED = {"GRADER_REAPER_TESTS_CONTAINED": "1"}
MUTANT_SECONDS = 600  # a mutant's selection still running after this is a timeout: a stop for a hang, not a speed bound
OWN_TESTS = ["tests/test_scoring_rules.py", "tests/test_resume.py", "tests/test_sandbox_layers.py", "tests/test_variants_guard.py",
             "tests/test_judging_limits.py", "tests/test_answer_bounds.py", "tests/test_gradebook_rules.py", "tests/reaper_scenario.py"]
ALSO_COPY = ["reference", "examples", "assignments", "tests", "pyproject.toml"]


def config(module: str, tests: list[str]) -> str:

    def lines(values):
        return "".join(f"\n    {v}" for v in values)

    return (
        "[mutmut]\n"
        "source_paths = grader\n"
        f"only_mutate ={lines([module])}\n"
        f"also_copy ={lines(ALSO_COPY)}\n"
        f"pytest_add_cli_args_test_selection ={lines(tests)}\n"
        "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -q\n"
        "use_git_change_detection = false\n"
    )


def run_each_mutant(tree: Path, python: Path, module: str, tests: list[str], env: dict[str, str]) -> None:
    """Run the selection once per mutant of ``module`` that mutmut left unchecked or without
    tests, the way mutmut selects a mutant (MUTANT_UNDER_TEST, in its ``mutants/`` folder),
    and record pytest's exit code (36 past MUTANT_SECONDS) where mutmut keeps its verdicts."""
    from mutmut.stats import status_by_exit_code

    meta_path = tree / "mutants" / f"{module}.meta"
    meta = json.loads(meta_path.read_text())
    codes = meta["exit_code_by_key"]
    command = ["nice", "-n", str(NICE), str(python), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--rootdir=.", *tests]

    def run(mutant: str) -> int:
        child = subprocess.Popen(command, cwd=tree / "mutants", env={**env, "MUTANT_UNDER_TEST": mutant},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        try:
            return child.wait(timeout=MUTANT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, 9)  # pytest and what its tests started
            child.wait()
            return 36

    if run("") != 0:
        raise SystemExit(f"{module}: the selection fails without a mutant: {' '.join(tests)}")
    for mutant in sorted(codes):
        if status_by_exit_code[codes[mutant]] in ("not checked", "no tests"):
            codes[mutant] = run(mutant)
            meta_path.write_text(json.dumps(meta))


def results(work: Path, targets: dict[str, list[str]]) -> dict[str, dict]:
    """Per module: counts by status and the surviving mutants' names, from mutmut's .meta files."""
    from mutmut.stats import status_by_exit_code

    summary = {}
    for module in targets:
        meta = work / slug(module) / "tree" / "mutants" / f"{module}.meta"
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        statuses = {name: status_by_exit_code[code] for name, code in codes.items()}
        summary[module] = {
            "counts": dict(Counter(statuses.values())),
            "survived": sorted(n for n, s in statuses.items() if s == "survived"),
            "untested": sorted(n for n, s in statuses.items() if s == "no tests"),
        }
    return summary


def slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("words", nargs="*", help="mutate only the modules whose path holds one of these words")
    parser.add_argument("--work", type=Path, help="the work folder (kept, for `mutmut show NAME` there); a new one by default")
    parser.add_argument("--report-only", action="store_true", help="print the results already in --work")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    targets = {m: t for m, t in TARGETS.items() if not args.words or any(w in m for w in args.words)}
    work = args.work or Path(tempfile.mkdtemp(prefix="mutation-"))
    if not args.report_only:
        for module, tests in targets.items():  # one mutmut run per module: each with its own tests
            place = work / slug(module)
            if place.exists():
                parser.error(f"{place} already holds a run: pass --report-only, or another --work")
            place.mkdir(parents=True)
            tree, python = make_copy(place, OWN_TESTS)
            (tree / "setup.cfg").write_text(config(module, tests))
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **CONTAINED}
            command = ["nice", "-n", str(NICE), str(python), "-m", "mutmut", "run", "--max-children", "1"]
            print(f"{module}: {' '.join(command)} in {tree}", flush=True)
            subprocess.run(command, cwd=tree, env=env, check=False, stdout=subprocess.DEVNULL)
            if module in IN_A_SUBPROCESS:  # mutmut generated the mutants and found no test for them
                print(f"{module}: each mutant against the whole selection", flush=True)
                run_each_mutant(tree, python, module, tests, env)
    summary = results(work, targets)
    print(f"\n{'module':42} {'killed':>7} {'survived':>9} {'timeout':>8} {'no tests':>9} {'other':>6}")
    for module, entry in summary.items():
        c = entry["counts"]
        other = sum(v for k, v in c.items() if k not in ("killed", "survived", "timeout", "no tests"))
        print(f"{module:42} {c.get('killed', 0):>7} {c.get('survived', 0):>9} {c.get('timeout', 0):>8} {c.get('no tests', 0):>9} {other:>6}")
    for module, entry in summary.items():
        for name in entry["survived"]:
            print(f"  survived: {name}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nDetails: cd {work}/MODULE/tree && ../venv/bin/python -m mutmut show NAME")
    return 0


if __name__ == "__main__":
    sys.exit(main())
