"""How a platform installs this grader: pinned, from the course's repository, never from
the student's. One place for the pins, so the Classroom workflow, the Gradescope setup
and the student README all install the same thing."""

from __future__ import annotations

from dataclasses import dataclass

from grader import __version__

TORCH = "torch==2.13.0"  # the same pin as pyproject.toml (a test keeps them equal)
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # CPU wheels: PyPI's default torch pulls GBs of CUDA
# A short timeout: where the CPU index cannot be reached, fall back to PyPI's pinned wheel rather than hang.
TORCH_INDEX_OPTIONS = "--timeout 15 --retries 1"
PLACEHOLDER_ORG = "YOUR-ORG"


@dataclass(frozen=True)
class GraderSource:
    """Where the grader is installed from: a GitHub repository at a tag or commit."""

    org: str = PLACEHOLDER_ORG
    repo: str = "nn-grader"
    ref: str = f"v{__version__}"

    @property
    def requirement(self) -> str:
        return f"nn-grader @ git+https://github.com/{self.org}/{self.repo}@{self.ref}"

    @property
    def is_placeholder(self) -> bool:
        return self.org == PLACEHOLDER_ORG


def pip_commands(requirement: str, python: str = "python") -> list[str]:
    """Torch first, from the CPU index (else PyPI's pinned wheel); then the grader, whose own
    torch pin is then already met."""
    return [
        f"{python} -m pip install --upgrade pip",
        f"{python} -m pip install {TORCH_INDEX_OPTIONS} --index-url {TORCH_INDEX} {TORCH} || {python} -m pip install {TORCH}",
        f'{python} -m pip install "{requirement}"',
    ]
