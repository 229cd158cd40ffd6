"""Model names -> segmenters: a name that cannot work is refused saying what to give."""

from __future__ import annotations

import pytest

from samvid.errors import ModelUnavailable
from samvid.models import load_segmenter


@pytest.mark.parametrize("name", ["standin:abc", "standin:-5", "standin:0", "standin:nan"])
def test_a_stand_in_radius_that_is_no_positive_number_is_refused_naming_the_form(name: str) -> None:
    with pytest.raises(ModelUnavailable, match="as in standin:20"):
        load_segmenter(name)


def test_a_stand_in_radius_is_read_from_its_name() -> None:
    assert load_segmenter("standin:7.5").radius == 7.5
    assert load_segmenter("standin").radius == 20.0


@pytest.mark.parametrize("name", ["", "  "])
def test_a_blank_model_name_is_refused_as_blank_not_read_as_the_working_folder(
    name: str, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelUnavailable, match="blank") as raised:
        load_segmenter(name, device="cpu")
    assert "classic" in raised.value.message and "folder  " not in raised.value.message


def test_a_model_folder_under_a_home_that_does_not_exist_is_no_such_folder_not_a_traceback() -> None:
    # Path("~nosuchuser/m").expanduser() raises RuntimeError: every loader was a traceback.
    with pytest.raises(ModelUnavailable, match=r"^~no-such-user-here/m: no such folder"):
        load_segmenter("~no-such-user-here/m", device="cpu")
