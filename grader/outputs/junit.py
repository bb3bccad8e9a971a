"""JUnit XML of a grade, for CI test-report viewers: one testcase per check, with its points.

The shape is the one Jenkins and GitLab read (tests/schemas/junit-jenkins.xsd): properties
only on the suite, so a check's points go in its system-out. Sandbox notes are for the
instructor: a suite property, never a student-facing message."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from grader import __version__
from grader.outputs.notes import for_instructor, for_students
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
    sandbox = "\n".join(for_instructor(report.notes))
    for name, value in (("score", f"{report.score:g}"), ("max_score", f"{report.max_score:g}"), ("submission", report.submission), ("sandbox", sandbox)):
        if value:
            ET.SubElement(properties, "property", name=name, value=clean(value))
    for result in report.results:
        case = ET.SubElement(suite, "testcase", classname=clean(f"{report.assignment}.{result.function}"), name=clean(result.name), time=f"{result.seconds:.3f}")
        points = f"{result.score:g} / {result.max_score:g} points"
        if result.status == "failed":
            first_line = result.output.splitlines()[0] if result.output else "failed"
            failure = ET.SubElement(case, "failure", message=clean(first_line), type="check failed")
            failure.text = clean(f"{points}\n{result.output}")
        ET.SubElement(case, "system-out").text = points
    lines = ([f"Could not grade this submission: {report.problem}"] if report.problem else []) + [
        f"Note: {n}" for n in for_students(report.notes)
    ]
    if lines:
        ET.SubElement(suite, "system-out").text = clean("\n".join(lines))
    ET.indent(suites)
    return ET.ElementTree(suites)


def write(report: GradeReport, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document(report).write(path, encoding="utf-8", xml_declaration=True)
