"""The gradebook: one SQLite file, the one place batch results land.

Tables (every row is keyed by assignment, so one file can hold a whole course):

* ``submissions``: one row per student: state, submission hash, grader version,
  score, when and how long, and why it could not be graded if it could not.
* ``checks``: one row per student and check: score, status, feedback, known mistake.
* ``artifacts``: plots a grade made for a student, by content hash into ``blobs``
  (a plot that is the same for everyone is stored once).
* ``meta``: a run's unfinished business (a ``--regrade`` that was interrupted).

A student's rows are written in one transaction, so a batch killed at any moment
(kill -9 included) leaves all of them or none. WAL mode lets readers (the exports,
an instructor's ``sqlite3`` shell) read while the batch writes. Only the batch's
main process writes, and only one batch at a time (``exclusive``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

GRADED, FAILED = "graded", "failed"  # FAILED: the grader, not the student, failed; retried next run

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    assignment     TEXT NOT NULL,
    student        TEXT NOT NULL,
    state          TEXT NOT NULL,
    hash           TEXT NOT NULL,
    grader_version TEXT NOT NULL,
    score          REAL,
    max_score      REAL,
    graded_at      TEXT NOT NULL,
    seconds        REAL NOT NULL,
    problem        TEXT NOT NULL DEFAULT '',
    notes          TEXT NOT NULL DEFAULT '[]',
    source         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (assignment, student)
);
CREATE TABLE IF NOT EXISTS checks (
    assignment TEXT NOT NULL,
    student    TEXT NOT NULL,
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    score      REAL NOT NULL,
    max_score  REAL NOT NULL,
    status     TEXT NOT NULL,
    output     TEXT NOT NULL DEFAULT '',
    hint       TEXT NOT NULL DEFAULT '',
    mistake    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (assignment, student, position)
);
CREATE TABLE IF NOT EXISTS artifacts (
    assignment TEXT NOT NULL,
    student    TEXT NOT NULL,
    name       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    PRIMARY KEY (assignment, student, name)
);
CREATE INDEX IF NOT EXISTS artifacts_by_blob ON artifacts (sha256);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    data   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    assignment TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (assignment, key)
);
"""


class GradebookBusy(Exception):
    """Another batch is writing to this gradebook."""


@dataclass(frozen=True)
class Fingerprint:
    """What a student's stored grade was made from."""

    hash: str
    grader_version: str
    state: str
    graded_at: str


def now() -> str:
    """UTC time in one fixed ISO format, so that stored times compare as strings."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@contextmanager
def exclusive(path: Path):
    """Hold ``<gradebook>.lock`` for the whole batch: two batches on one gradebook would
    grade everything twice. The kernel drops the lock when the process dies, even by kill -9."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    import fcntl  # POSIX only: imported here so the students' commands still import on Windows

    with open(f"{path}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GradebookBusy(f"another batch is writing to {path}; wait for it to finish") from None
        yield


class Gradebook:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)  # transactions are explicit
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a commit is on disk before the next student starts
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- writing ------------------------------------------------------------------

    def record(self, assignment: str, record: dict) -> bool:
        """Replace one student's rows with a worker's record, all in one transaction.

        A grader failure keeps a grade made from the same files by the same grader version
        (the caller grades them again next run) and returns False. A grade made from other
        files or by another grader version no longer stands: the failure replaces it, so a
        submission that crashes each new grader cannot keep an old (perhaps forged) grade."""
        student = record["student"]
        key = (assignment, student)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if record["state"] == FAILED:
                row = self.db.execute(
                    "SELECT state, hash, grader_version, score, max_score FROM submissions WHERE assignment = ? AND student = ?", key
                ).fetchone()
                if row is not None and row["state"] == GRADED:
                    if (row["hash"], row["grader_version"]) == (record["hash"], record["grader_version"]):
                        self.db.execute("ROLLBACK")
                        return False
                    record = {**record, "problem": f"{record.get('problem', '')} (its earlier grade, {row['score']:g}/{row['max_score']:g} from other files or another grader version, no longer stands)"}
            for table in ("submissions", "checks", "artifacts"):
                self.db.execute(f"DELETE FROM {table} WHERE assignment = ? AND student = ?", key)
            self.db.execute(
                "INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *key,
                    record["state"],
                    record["hash"],
                    record["grader_version"],
                    record["score"],
                    record["max_score"],
                    now(),
                    record["seconds"],
                    record.get("problem", ""),
                    json.dumps(record.get("notes", [])),
                    record.get("source", ""),
                ),
            )
            self.db.executemany(
                "INSERT INTO checks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (*key, position, c["name"], c["score"], c["max_score"], c["status"], c["output"], c.get("hint", ""), c.get("mistake", ""))
                    for position, c in enumerate(record["checks"])
                ],
            )
            for name, data in record.get("artifacts", {}).items():
                digest = hashlib.sha256(data).hexdigest()
                self.db.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (digest, data))
                self.db.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?)", (*key, name, digest))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return True

    def drop_unused_blobs(self) -> None:
        """Plots no student refers to any more (their grades were replaced)."""
        self.db.execute("DELETE FROM blobs WHERE sha256 NOT IN (SELECT sha256 FROM artifacts)")

    def set_meta(self, assignment: str, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?, ?)", (assignment, key, value))

    def get_meta(self, assignment: str, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE assignment = ? AND key = ?", (assignment, key)).fetchone()
        return row["value"] if row else None

    def delete_meta(self, assignment: str, key: str) -> None:
        self.db.execute("DELETE FROM meta WHERE assignment = ? AND key = ?", (assignment, key))

    # ---- reading ------------------------------------------------------------------

    def fingerprints(self, assignment: str) -> dict[str, Fingerprint]:
        rows = self.db.execute(
            "SELECT student, hash, grader_version, state, graded_at FROM submissions WHERE assignment = ?", (assignment,)
        )
        return {r["student"]: Fingerprint(r["hash"], r["grader_version"], r["state"], r["graded_at"]) for r in rows}

    def submissions(self, assignment: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM submissions WHERE assignment = ? ORDER BY student", (assignment,)).fetchall()

    def checks(self, assignment: str, student: str | None = None) -> list[sqlite3.Row]:
        if student is None:
            query, args = "SELECT * FROM checks WHERE assignment = ? ORDER BY student, position", (assignment,)
        else:
            query, args = "SELECT * FROM checks WHERE assignment = ? AND student = ? ORDER BY position", (assignment, student)
        return self.db.execute(query, args).fetchall()

    def artifacts(self, assignment: str, student: str) -> list[tuple[str, bytes]]:
        rows = self.db.execute(
            "SELECT name, data FROM artifacts JOIN blobs USING (sha256) WHERE assignment = ? AND student = ? ORDER BY name",
            (assignment, student),
        )
        return [(r["name"], r["data"]) for r in rows]
