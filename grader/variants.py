"""Hidden variants: private inputs that guard public checks in the official grade.

Students install a public copy of the grader (no reference solutions); its checks run the
public probes, whose inputs and expected answers anyone can read. The instructor's grader
also has ``reference/<name>/variants.py`` (declared as the assignment's
``hidden_checks_from``): checks named exactly like public ones, on other inputs. There each
public check is *guarded*: one probe runs the public inputs and then the hidden ones, and
the check passes only if both pass. Names and points stay the same, so the self-check and
the official grade have the same table; only code that fits the public inputs alone (say,
hard-coded expected values) loses points in the official grade.

The guarded probe keeps the public probe's key and answers the public probe's record with
the variant's record added under ``VARIANT``, so everything that reads a probe's outcome by
key (plots, reports) still finds the public answer.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

VARIANT = "hidden variant"  # where a guarded probe's answer holds the variant's record
ONLY_OFFICIAL = "On inputs that only the official grade uses (this check's public inputs pass): "


def guarded(resolve, module: str, public: list, variant: list) -> dict:
    """Probe (run where the probes run): the public probe, then its variant, as one record.

    ``public`` and ``variant`` are ``[function, args]`` of probes in ``module``."""
    probes = importlib.import_module(module)
    record = getattr(probes, public[0])(resolve, **public[1])
    if not isinstance(record, dict):
        raise TypeError(f"grader bug: {module}.{public[0]} answers a {type(record).__name__}; only a record (dict) can be guarded")
    return {**record, VARIANT: getattr(probes, variant[0])(resolve, **variant[1])}


def guard(public, variant, probes_module: str):
    """``public`` (a Check), passing only if ``variant`` (a Check of the same name) passes too."""
    from grader.plugin import Check, Probe, failed

    probe = Probe(
        key=public.probe.key,
        function=guarded.__name__,
        args={
            "module": probes_module,
            "public": [public.probe.function, dict(public.probe.args)],
            "variant": [variant.probe.function, dict(variant.probe.args)],
        },
        needs=tuple(dict.fromkeys((*public.probe.needs, *variant.probe.needs))),
        timeout=public.probe.timeout + variant.probe.timeout,
    )

    def judge(got: Any, reference: dict):
        got_public, got_variant = _split(got)
        verdict = public.judge(got_public, _split(reference)[0])
        if not verdict.passed:
            return verdict
        if got_variant is None:
            return failed(f"{public.function}: the sandbox's report lacks the hidden inputs' answer, so this check is not scored.")
        second = variant.judge(got_variant, reference[VARIANT])
        if second.passed:
            return verdict
        return failed(ONLY_OFFICIAL + second.message, second.hint, second.mistake)

    return Check(public.name, public.points, probe, judge)


_parts: dict[int, tuple[Any, tuple[Any, Any]]] = {}  # id(record) -> (record, parts): several checks read one record


def _split(record: Any) -> tuple[Any, Any]:
    """(the public probe's record, the variant's record or None); the same objects for the same record,
    so judges that cache their analysis by the record's identity still hit it."""
    hit = _parts.get(id(record))
    if hit is not None and hit[0] is record:
        return hit[1]
    if not isinstance(record, dict):
        return record, None
    parts = ({k: v for k, v in record.items() if k != VARIANT}, record.get(VARIANT))
    if len(_parts) > 64:
        _parts.clear()
    _parts[id(record)] = (record, parts)
    return parts


def guard_all(public: list, variants: list, probes_module: str) -> list:
    """The public checks, each guarded by the variant of the same name; PluginError for a variant without one."""
    from grader.plugin import PluginError

    by_name = {check.name: check for check in variants}
    unknown = set(by_name) - {check.name for check in public}
    if unknown:
        raise PluginError(f"hidden variants name no public check: {', '.join(sorted(unknown))}")
    result = [guard(check, by_name[check.name], probes_module) if check.name in by_name else check for check in public]
    probes: dict[str, Any] = {}
    for check in result:  # checks that share a probe must share its guard too: one key, one probe
        if probes.setdefault(check.probe.key, check.probe) != check.probe:
            raise PluginError(f"checks sharing probe {check.probe.key} are guarded differently")
    return result


def private_copy(module_name: str, **constants: Any) -> ModuleType:
    """A fresh copy of a public checks module with some of its module-level inputs replaced.

    Its judges read those names at call time, so the copy's checks are the public checks,
    judged the same way, on other inputs. Every name must already exist (a renamed input
    fails loudly instead of silently leaving the public value in place)."""
    from grader.plugin import PluginError

    try:
        spec = importlib.util.find_spec(module_name)  # imports its packages, not the module
    except ModuleNotFoundError as error:
        if error.name is None or not module_name.startswith(error.name):  # a package imports what is missing: its bug
            raise
        spec = None  # a package of the name is missing
    if spec is None or spec.loader is None:  # no module, or a folder without an __init__.py
        raise PluginError(f"there is no module {module_name} to copy with hidden inputs")
    importlib.import_module(module_name)  # the original first: dataclasses resolve annotations through it
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    missing = [name for name in constants if not hasattr(copy, name)]
    if missing:
        raise PluginError(f"{module_name} has no {', '.join(missing)} to replace with hidden inputs")
    for name, value in constants.items():
        setattr(copy, name, value)
    return copy
