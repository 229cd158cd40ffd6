"""How a project named on a command line or in Label Studio's request is read: an id or a title."""

from __future__ import annotations

import pytest

from samvid.studio.protocol import project_id_in


@pytest.mark.parametrize(("text", "project"), [("12", 12), (" 7 ", 7), ("007", 7), ("9" * 18, int("9" * 18))])
def test_ascii_digits_name_a_project_id(text: str, project: int) -> None:
    assert project_id_in(text) == project


@pytest.mark.parametrize("text", ["Street", "", "²", "1²", "١٢", "9" * 19, "-3", "1.5"])
def test_anything_else_names_no_id_and_is_read_as_a_title(text: str) -> None:
    # "²" is a digit to str.isdigit but no number to int(): the lookup crashed with a ValueError.
    assert project_id_in(text) is None
