"""NamePolicy: generated names are always valid SageMaker names; explicit ones are checked."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from endpoints.lifecycle.naming import NamePolicy, ResourceNames, is_valid_resource_name

SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")


def fixed_policy(prefix: str, **names) -> NamePolicy:
    return NamePolicy(prefix, clock=lambda: "20261126-210400", random_tag=lambda: "3fa1c2", **names)


def test_generated_names_are_prefix_stamp_and_random_shared_by_all_three():
    assert fixed_policy("nightly").names() == ResourceNames(
        model_name="nightly-20261126-210400-3fa1c2",
        endpoint_config_name="nightly-20261126-210400-3fa1c2",
        endpoint_name="nightly-20261126-210400-3fa1c2",
    )


def test_each_call_gives_new_names_with_the_default_prefix():
    policy = NamePolicy()
    first, second = policy.names(), policy.names()
    assert first.endpoint_name != second.endpoint_name
    assert first.endpoint_name.startswith("endpoint-serde-")
    assert re.fullmatch(r"endpoint-serde-\d{8}-\d{6}-[0-9a-f]{6}", first.endpoint_name)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("nightly scoring!", "nightly-scoring-20261126-210400-3fa1c2"),
        ("--team_ml--", "team-ml-20261126-210400-3fa1c2"),
        ("%%%", "20261126-210400-3fa1c2"),
        ("", "20261126-210400-3fa1c2"),
        ("x" * 100, "x" * 40 + "-20261126-210400-3fa1c2"),
        ("a" * 39 + "-bbbb", "a" * 39 + "-20261126-210400-3fa1c2"),
    ],
)
def test_prefix_is_cleaned_and_cut_to_fit(prefix, expected):
    name = fixed_policy(prefix).names().endpoint_name
    assert name == expected
    assert len(name) <= 63


@settings(max_examples=300, deadline=None)
@given(prefix=st.text(max_size=200))
def test_generated_names_are_valid_for_any_prefix(prefix):
    names = NamePolicy(prefix).names()
    for name in (names.model_name, names.endpoint_config_name, names.endpoint_name):
        assert len(name) <= 63
        assert SAGEMAKER_NAME.match(name), name
        assert is_valid_resource_name(name)


def test_explicit_names_are_kept_and_missing_ones_generated():
    names = fixed_policy("p", endpoint_name="prod-scorer", model_name="m-1").names()
    assert names == ResourceNames("m-1", "p-20261126-210400-3fa1c2", "prod-scorer")


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("under_score", "got 'under_score'"),
        ("-leading", "got '-leading'"),
        ("trailing-", "got 'trailing-'"),
        ("", "got an empty string"),
        ("x" * 64, "got 64 characters"),
    ],
)
def test_invalid_explicit_name_is_a_clear_value_error(bad, problem):
    with pytest.raises(ValueError) as info:
        NamePolicy(endpoint_name=bad)
    message = str(info.value)
    assert message.startswith("endpoint_name: expected a SageMaker resource name (1-63 letters")
    assert problem in message


def test_non_string_prefix_is_refused():
    with pytest.raises(ValueError, match="prefix: expected a string, got int"):
        NamePolicy(prefix=7)  # type: ignore[arg-type]


def test_repr_shows_prefix_and_fixed_names():
    assert (
        repr(NamePolicy("a b", endpoint_name="e")) == "NamePolicy(prefix='a-b', endpoint_name='e')"
    )
