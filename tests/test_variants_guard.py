"""Hidden variants guarding public checks (grader/variants.py), on toy checks and probes.

The rules, from the module's docstring: the guarded probe runs the public probe and then
the variant, as one record under the public probe's key; the guarded check keeps the
public check's name and points, and passes only if the public check passes on the public
record and the variant passes on the variant's; a failure only on the hidden inputs says so.
"""

from __future__ import annotations

import sys
import types

import pytest

from grader import variants
from grader.plugin import Check, PluginError, Probe, Verdict, failed, passed
from grader.variants import ONLY_OFFICIAL, VARIANT, guard, guard_all, guarded, private_copy


@pytest.fixture
def probes(monkeypatch):
    module = types.ModuleType("toy_probes")
    module.double = lambda resolve, x: {"doubled": resolve("toy", "double")(x)}
    module.listed = lambda resolve, x: [x]
    monkeypatch.setitem(sys.modules, "toy_probes", module)
    return module


def resolve(module, name):
    return lambda x: 2 * x


def test_the_guarded_probe_answers_the_public_record_with_the_variants_added(probes):
    record = guarded(resolve, "toy_probes", ["double", {"x": 1}], ["double", {"x": 5}])
    assert record == {"doubled": 2, VARIANT: {"doubled": 10}}


def test_only_a_record_can_be_guarded(probes):
    with pytest.raises(TypeError, match="grader bug: toy_probes.listed answers a list; only a record"):
        guarded(resolve, "toy_probes", ["listed", {"x": 1}], ["double", {"x": 5}])


def _equal_to(key: str, want, mistake: str = "") -> callable:
    def judge(got, reference):
        if got == {key: want} and reference == {key: want}:
            return passed(f"f: {key} is {want}")
        return failed(f"f: {key} should be {want}, got {got}", f"hint for {key}", mistake)

    return judge


PUBLIC = Check("f: doubles", 3, Probe("double:1", "double", {"x": 1}, ("toy",), 2.0), _equal_to("doubled", 2, "public-mistake"))
VARIANT_CHECK = Check("f: doubles", 3, Probe("double:5", "double", {"x": 5}, ("toy", "other"), 4.0), _equal_to("doubled", 10, "hidden-mistake"))
REFERENCE = {"doubled": 2, VARIANT: {"doubled": 10}}


def test_a_guarded_check_keeps_the_public_name_points_and_key_and_runs_both_probes():
    check = guard(PUBLIC, VARIANT_CHECK, "toy_probes")
    assert (check.name, check.points, check.probe.key) == ("f: doubles", 3, "double:1")
    assert check.probe.function == "guarded" and check.probe.timeout == 6.0
    assert check.probe.needs == ("toy", "other")
    assert dict(check.probe.args) == {"module": "toy_probes", "public": ["double", {"x": 1}], "variant": ["double", {"x": 5}]}


def test_a_guarded_check_passes_only_if_both_pass():
    judge = guard(PUBLIC, VARIANT_CHECK, "toy_probes").judge
    assert judge({"doubled": 2, VARIANT: {"doubled": 10}}, REFERENCE) == Verdict(True, "f: doubled is 2")
    public_wrong = judge({"doubled": 3, VARIANT: {"doubled": 10}}, REFERENCE)
    assert public_wrong == Verdict(False, "f: doubled should be 2, got {'doubled': 3}", "hint for doubled", "public-mistake")
    hidden_wrong = judge({"doubled": 2, VARIANT: {"doubled": 11}}, REFERENCE)
    assert hidden_wrong == Verdict(False, ONLY_OFFICIAL + "f: doubled should be 10, got {'doubled': 11}", "hint for doubled", "hidden-mistake")


def test_a_report_without_the_variants_answer_is_not_scored():
    verdict = guard(PUBLIC, VARIANT_CHECK, "toy_probes").judge({"doubled": 2}, REFERENCE)
    assert verdict == Verdict(False, "f: the sandbox's report lacks the hidden inputs' answer, so this check is not scored.")


def test_split_gives_the_same_parts_for_the_same_record_and_none_for_a_non_record():
    record = {"doubled": 2, VARIANT: {"doubled": 10}}
    first = variants._split(record)
    assert first == ({"doubled": 2}, {"doubled": 10})
    assert variants._split(record) is first and variants._split(record)[0] is first[0]  # judges cache by identity
    assert variants._split([1, 2]) == ([1, 2], None)
    assert variants._split({"doubled": 2}) == ({"doubled": 2}, None)


def test_split_forgets_records_past_its_bound():
    records = [{"n": i} for i in range(100)]
    for record in records:
        variants._split(record)
    assert len(variants._parts) <= 65
    assert variants._split(records[-1])[0] == {"n": 99}


def test_guard_all_guards_the_named_checks_and_leaves_the_others():
    other = Check("g: other", 2, Probe("other", "other"), _equal_to("x", 1))
    result = guard_all([PUBLIC, other], [VARIANT_CHECK], "toy_probes")
    assert [c.name for c in result] == ["f: doubles", "g: other"]
    assert result[0].probe.function == "guarded" and result[0].probe.args["module"] == "toy_probes" and result[1] is other


def test_guard_all_refuses_a_variant_without_a_public_check():
    strays = [Check(f"{name}: nothing", 1, Probe(name, name), _equal_to("x", 1)) for name in ("i", "h")]
    with pytest.raises(PluginError, match="hidden variants name no public check: h: nothing, i: nothing$"):
        guard_all([PUBLIC], [VARIANT_CHECK, *strays], "toy_probes")


def test_guard_all_refuses_checks_of_one_probe_guarded_differently():
    sibling = Check("f: doubles again", 1, PUBLIC.probe, _equal_to("doubled", 2))
    with pytest.raises(PluginError, match="checks sharing probe double:1 are guarded differently"):
        guard_all([PUBLIC, sibling], [VARIANT_CHECK], "toy_probes")
    guard_all([PUBLIC, sibling], [VARIANT_CHECK, Check("f: doubles again", 1, VARIANT_CHECK.probe, _equal_to("doubled", 10))], "toy_probes")


def test_a_private_copy_replaces_inputs_and_leaves_the_public_module_alone():
    from grader.assignments.autodiff import checks as public

    copy = private_copy("grader.assignments.autodiff.checks", PREDICTION=[[1.0]])
    assert copy is not public and copy.PREDICTION == [[1.0]] and public.PREDICTION != [[1.0]]
    with pytest.raises(PluginError, match="has no NOT_AN_INPUT, NOR_THIS to replace"):
        private_copy("grader.assignments.autodiff.checks", NOT_AN_INPUT=1, PREDICTION=[[1.0]], NOR_THIS=2)


@pytest.mark.parametrize("name", ["grader.assignments.autodiff.no_such_checks", "grader.assignments.no_such_assignment.checks",
                                  "toy_folder_without_init"])
def test_a_private_copy_of_no_module_is_a_plugin_error(name, tmp_path, monkeypatch):
    (tmp_path / "toy_folder_without_init").mkdir()
    monkeypatch.syspath_prepend(tmp_path)
    with pytest.raises(PluginError, match=f"^there is no module {name} to copy with hidden inputs$"):
        private_copy(name, PREDICTION=[[1.0]])
    assert name not in sys.modules


def test_a_private_copy_of_a_package_that_imports_what_is_missing_says_what(tmp_path, monkeypatch):
    (tmp_path / "toy_package_of_checks").mkdir()
    (tmp_path / "toy_package_of_checks" / "__init__.py").write_text("import toy_missing_dependency\n")
    (tmp_path / "toy_package_of_checks" / "checks.py").write_text("PREDICTION = []\n")
    monkeypatch.syspath_prepend(tmp_path)
    with pytest.raises(ModuleNotFoundError) as caught:  # the package's own bug, not a wrong name
        private_copy("toy_package_of_checks.checks", PREDICTION=[[1.0]])
    assert caught.value.name == "toy_missing_dependency"
