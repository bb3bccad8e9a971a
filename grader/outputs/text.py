"""Text from a submission made safe to show as plain text: terminal escape sequences and
control characters removed (a student's print can clear a screen, retitle a window or hide
lines), newlines and tabs kept."""

from __future__ import annotations

import re

# CSI/OSC escape sequences first (so their parameters go too), then any other control character.
_TERMINAL_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    return _TERMINAL_CONTROL.sub("", str(text))
