"""The answer decoder's bounds, at the bound and one past it (grader/sandbox/answers.py):
what the docstring promises, each limit inclusive of an honest answer's largest size."""

from __future__ import annotations

import pytest

from grader.sandbox import answers
from grader.sandbox.answers import MAX_DEPTH, MAX_LENGTH, MAX_VALUES, Rejected, decode


def nested(depth: int) -> bytes:
    """A list nested ``depth`` deep, with a number inside."""
    return b"[" * depth + b"1" + b"]" * depth


def test_an_answer_nested_exactly_max_depth_is_read_one_deeper_is_rejected():
    assert decode(nested(MAX_DEPTH)) is not None
    with pytest.raises(Rejected, match=f"nested more than {MAX_DEPTH} deep"):
        decode(nested(MAX_DEPTH + 1))


def test_depth_counts_objects_and_their_keys_like_lists():
    inner = b'{"k": ' * (MAX_DEPTH - 1) + b"[1]" + b"}" * (MAX_DEPTH - 1)
    assert decode(inner) is not None
    with pytest.raises(Rejected, match="nested"):
        decode(b'{"k": ' * MAX_DEPTH + b"[1]" + b"}" * MAX_DEPTH)


def test_every_item_is_checked_not_only_those_before_a_scalar():
    long = b'"' + b"x" * (MAX_LENGTH + 1) + b'"'
    with pytest.raises(Rejected, match="string longer than"):
        decode(b"[" + long + b', 1, "short"]')  # the long string is the last one walked
    with pytest.raises(Rejected, match="string longer than"):
        decode(b'["short", 1, ' + long + b"]")
    with pytest.raises(Rejected, match="string longer than"):
        decode(b'{"a": 1, "b": ' + long + b"}")


def test_strings_and_lists_of_exactly_max_length_are_read():
    assert len(decode(b'"' + b"x" * MAX_LENGTH + b'"')) == MAX_LENGTH
    assert len(decode(b"[" + b"0," * (MAX_LENGTH - 1) + b"0]")) == MAX_LENGTH
    with pytest.raises(Rejected, match="longer than"):
        decode(b"[" + b"0," * MAX_LENGTH + b"0]")


def test_objects_count_towards_the_values_before_parsing():
    many = b"[" + b"{}," * (MAX_VALUES // 2) + b"{}]"  # few commas alone, but each {} is a value
    with pytest.raises(Rejected, match="more than 1,000,000 values"):
        decode(many)


def test_the_most_negative_bound_integer_is_read():
    assert decode(b"-9223372036854775808") == -(2**63)  # 19 digits and a sign: 20 characters


def test_an_answer_of_exactly_max_bytes_is_not_rejected_for_its_size(monkeypatch):
    monkeypatch.setattr(answers, "MAX_BYTES", 12)
    assert decode(b'"0123456789"') == "0123456789"
    with pytest.raises(Rejected, match="larger than"):
        decode(b'"01234567890"')
