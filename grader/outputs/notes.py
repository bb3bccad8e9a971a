"""Who a note is for: students read how their submission was loaded; what the sandbox
could enforce (grader/sandbox/isolation.py) is for the instructor, and is never listed in a
student's feedback as what their code could do."""

from __future__ import annotations

INSTRUCTOR_PREFIX = "sandbox"  # isolation.py's notes start "sandbox: ..." or "sandbox WEAKER ..."


def is_instructor_note(note: str) -> bool:
    return note.startswith(INSTRUCTOR_PREFIX)


def for_students(notes: list[str]) -> list[str]:
    return [note for note in notes if not is_instructor_note(note)]


def for_instructor(notes: list[str]) -> list[str]:
    return [note for note in notes if is_instructor_note(note)]
