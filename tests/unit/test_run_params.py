"""`devflow run start --param NAME=VALUE`: values typed as a user means them."""

import pytest

from devflow.core.errors import Invalid
from devflow.workflows.runs.cli import guess, parse_params


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("3", 3),
        ("-12", -12),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("true", True),
        ("False", False),
        ("yes", True),
        ("no", False),
        ("high", "high"),
        ("", ""),
        ("nan", "nan"),
        ("inf", "inf"),
        ("1_000", "1_000"),
        ("v1.2", "v1.2"),
        (" spaced text ", " spaced text "),
    ],
)
def test_a_value_is_guessed_as_a_user_means_it(raw, value):
    got = guess(raw)
    assert (got, type(got)) == (value, type(value))


def test_a_declared_type_wins_over_the_guess():
    declared = {"tag": "string", "count": "integer", "ratio": "number", "dry": "boolean"}
    given = ["tag=42", "count=3", "ratio=2", "dry=no", "other=true", "text=a=b"]
    assert parse_params(given, declared) == {
        "tag": "42",
        "count": 3,
        "ratio": 2,
        "dry": False,
        "other": True,
        "text": "a=b",
    }


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["severity"], "write it as NAME=VALUE"),
        (["=high"], "write it as NAME=VALUE"),
        (["a=1", "a=2"], "--param a is given twice"),
        (["count=3.5"], "count is a whole number, e.g. count=3"),
        (["count=true"], "count is a whole number"),
        (["ratio=fast"], "ratio is a number, e.g. ratio=2.5"),
        (["dry=maybe"], "dry is true or false (or yes/no)"),
    ],
)
def test_a_value_that_cannot_be_meant_is_refused_naming_the_fix(given, said):
    declared = {"count": "integer", "ratio": "number", "dry": "boolean"}
    with pytest.raises(Invalid) as refused:
        parse_params(given, declared)
    assert said in refused.value.message
