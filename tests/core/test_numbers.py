"""Whole numbers from outside: any length is read without Python's limit on digits, and bounded.

The faces pass what people type (CLI options, URL paths, headers, files)
through ``kaizen_tui.core.numbers``; that each face does is tested with it
(tests/api, tests/cli). Here: the rules themselves, and the schema's
messages about numbers too long to write out.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kaizen_tui.core.errors import InvalidValue, VersionNotFound
from kaizen_tui.core.numbers import (
    MAX_INTEGER,
    TOO_LARGE,
    is_digit_limit,
    long_number,
    shortened,
    version_number,
    whole_number,
)
from kaizen_tui.core.schema import validate_fields

DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=6000)


@given(DIGITS, st.sampled_from(["", " ", "\t", "\n"]))
def test_any_run_of_digits_is_its_number_or_too_large(digits: str, space: str) -> None:
    number = whole_number(f"{space}{digits}{space}")
    significant = digits.lstrip("0") or "0"
    if len(significant) <= 19 and int(significant) <= MAX_INTEGER:
        assert number == int(significant)
    else:
        assert number == TOO_LARGE


@pytest.mark.parametrize("text", ["", " ", "-3", "+3", "3.0", "1_000", "²", "3a", "0x10", "v3"])
def test_what_is_not_a_whole_number_is_none(text: str) -> None:
    assert whole_number(text) is None


def test_a_signed_number_when_asked() -> None:
    assert whole_number("-3", signed=True) == -3 and whole_number("+3", signed=True) == 3
    assert whole_number("-" + "9" * 5000, signed=True) == -TOO_LARGE
    assert whole_number("-", signed=True) is None and whole_number("--3", signed=True) is None
    assert whole_number("-3") is None


def test_the_bounds_of_a_stored_number() -> None:
    assert whole_number(str(MAX_INTEGER)) == MAX_INTEGER
    assert whole_number(str(MAX_INTEGER + 1)) == TOO_LARGE
    assert whole_number("0" * 5000 + "7") == 7, "leading zeros do not count against any limit"
    assert whole_number("9" * 10**6) == TOO_LARGE


def test_a_version_number_past_any_stored_one_is_not_found_naming_it_short() -> None:
    assert version_number("0042") == 42
    with pytest.raises(VersionNotFound) as found:
        version_number("9" * 4400, "Support Agent")
    assert str(found.value) == "No version v99999999999…99999999999 (4,400 characters) of Support Agent."
    with pytest.raises(VersionNotFound):
        version_number(str(MAX_INTEGER + 1))


def test_shortened_keeps_short_text_and_says_how_long_the_rest_is() -> None:
    assert shortened("v3") == "v3"
    assert shortened("v3", quoted=True) == "'v3'"
    assert shortened("x" * 100, quoted=True) == "'xxxxxxxxxxx…xxxxxxxxxxx' (100 characters)"


def test_the_line_of_a_number_too_long_to_read() -> None:
    text = "name: A\nmodel_id: m\nmax_tokens: " + "9" * 4400 + "\n"
    assert long_number(text) == (3, "a number of 4,400 digits (at most 4,300 are read)")
    assert long_number("max_tokens: " + "9" * 4300) is None
    with pytest.raises(ValueError) as raised:
        int("9" * 4400)
    assert is_digit_limit(raised.value), "Python's words for its limit are what the faces recognise"
    assert not is_digit_limit(ValueError("month must be in 1..12"))


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"max_tokens": 16**5000}, "max_tokens: must be a whole number from 0 to 100,000,000 (0 means no limit); "
         "got a number of 6,021 digits"),
        ({"max_tokens": -(16**5000)}, "got a negative number of 6,021 digits"),
        ({"temperature": 16**5000}, "temperature: must be from 0.0 to 2.0; got a number of 6,021 digits"),
        ({"extra": {"seed": 16**5000}}, "extra: holds a number of more digits than can be written out"),
    ],
)  # fmt: skip
def test_numbers_too_long_to_write_out_are_refused_in_words(fields: dict, says: str) -> None:
    # YAML reads 0xfff... (any length) as an int: such a number reaches the schema.
    with pytest.raises(InvalidValue) as refused:
        validate_fields(fields)
    assert says in str(refused.value)
