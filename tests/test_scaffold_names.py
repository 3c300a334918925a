"""`strategy new NAME`: the name is an identifier (the one pattern, qmtl_research/identifiers.py)
and, for a new strategy, also reads as a word. Each rule is checked by a case that breaks only it."""
from __future__ import annotations

import pytest

from qmtl_research.errors import InputError
from qmtl_research.identifiers import is_identifier
from qmtl_research.scaffold import check_name


@pytest.mark.parametrize("name", ["my-funds", "kr_equity", "a", "fund2", "a1-b2_c3", "x" * 64])
def test_good_names_pass_unchanged(name):
    assert check_name(name) == name and is_identifier(name)


@pytest.mark.parametrize("name, rule", [
    ("../escape", "not a strategy name"), ("My-Funds", "not a strategy name"), ("a/b", "not a strategy name"),
    ("", "not a strategy name"), ("x" * 65, "not a strategy name"), (None, "not a strategy name"),
    ("-lead", "not a strategy name"),
    # identifiers, but not names for a new strategy
    ("2024-funds", "start with a letter"), ("v1.2", "must not hold '.'"), ("a--b", "singly"),
    ("a_", "singly"), ("a-_b", "singly")])
def test_bad_names_say_which_rule(name, rule):
    with pytest.raises(InputError, match=rule) as err:
        check_name(name)
    assert err.value.exit_code == 2 and err.value.where == "NAME"


def test_every_accepted_name_is_an_identifier():
    """The extra rules only narrow the one pattern: nothing check_name accepts escapes it."""
    import itertools

    alphabet = "a1-_."
    for n in range(1, 5):
        for chars in itertools.product(alphabet, repeat=n):
            name = "".join(chars)
            try:
                check_name(name)
            except InputError:
                continue
            assert is_identifier(name), name
