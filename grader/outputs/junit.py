"""JUnit XML of a grade, for CI test-report viewers: one testcase per check, with its points."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from grader import __version__
from grader.scoring import GradeReport

# XML 1.0 cannot carry most control characters at all, and student code prints them
# (ANSI colours, stray NULs); they are shown as \xNN instead of making the file unreadable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    return _NOT_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def document(report: GradeReport) -> ET.ElementTree:
    failures = sum(1 for r in report.results if r.status == "failed")
    suites = ET.Element("testsuites", name=f"nn-grader {__version__}", tests=str(len(report.results)), failures=str(failures))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=report.assignment,
        tests=str(len(report.results)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{report.execution_time:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (("score", report.score), ("max_score", report.max_score), ("submission", report.submission)):
        ET.SubElement(properties, "property", name=name, value=clean(f"{value:g}" if isinstance(value, float) else str(value)))
    for result in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"{report.assignment}.{result.function}", name=clean(result.name), time="0")
        points = ET.SubElement(case, "properties")
        ET.SubElement(points, "property", name="points", value=f"{result.score:g}")
        ET.SubElement(points, "property", name="max_points", value=f"{result.max_score:g}")
        if result.status == "failed":
            first_line = result.output.splitlines()[0] if result.output else "failed"
            failure = ET.SubElement(case, "failure", message=clean(first_line), type="check failed")
            failure.text = clean(f"{result.score:g} / {result.max_score:g} points\n{result.output}")
    lines = ([f"Could not grade this submission: {report.problem}"] if report.problem else []) + [f"Note: {n}" for n in report.notes]
    if lines:
        ET.SubElement(suite, "system-out").text = clean("\n".join(lines))
    ET.indent(suites)
    return ET.ElementTree(suites)


def write(report: GradeReport, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document(report).write(path, encoding="utf-8", xml_declaration=True)
