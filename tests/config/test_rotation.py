"""`webapp:secretRotation`: a label (generation a alone) or two generations and the one in use."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.parsing import parse_settings
from components.config.rotation import SecretRotation
from components.config.settings import SettingsError
from tools.offline import load_stack_config


def parsed(value: Any) -> SecretRotation:
    config = {**load_stack_config("dev"), "webapp:secretRotation": value}
    return parse_settings(config, "dev", check_data_lock=False).secret_rotation


def test_a_label_is_generation_a_alone() -> None:
    rotation = parsed("2026-Q4")
    assert rotation == SecretRotation(label_a="2026-Q4")
    assert rotation.accepted == ("a",) and rotation.standby is None
    assert parsed(None) == SecretRotation()


def test_two_generations_are_both_accepted_and_one_used() -> None:
    rotation = parsed({"a": "2026-Q4", "b": "2027-Q1", "use": "b"})
    assert rotation.accepted == ("a", "b") and rotation.use == "b" and rotation.standby == "a"
    assert (rotation.label("a"), rotation.label("b")) == ("2026-Q4", "2027-Q1")


@pytest.mark.parametrize(
    "value, expected",
    [
        (
            {"a": "2026-Q4", "use": "b"},
            "webapp:secretRotation.use: 'b' is not allowed; expected a while "
            "webapp:secretRotation.b is unset",
        ),
        ({"a": "2026 Q4"}, "webapp:secretRotation.a: '2026 Q4' is not allowed; expected a label"),
        (
            {"b": "x", "use": "c"},
            "webapp:secretRotation.use: 'c' is not allowed; expected one of a, b",
        ),
        ({"a": "x", "next": "y"}, "webapp:secretRotation.next: unknown key"),
        (
            ["2026-Q4"],
            "webapp:secretRotation: [2026-Q4] is not allowed; expected a label, or a mapping",
        ),
    ],
)
def test_bad_rotation_is_refused_naming_the_key(value: Any, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        parsed(value)
    assert any(expected in problem for problem in info.value.problems), info.value.problems
