"""``~`` in a user's path: expanded, or NoSuchHome naming the path where that home is unknown."""

from __future__ import annotations

from pathlib import Path

import pytest

from samvid.homes import NoSuchHome, expand_home


def test_a_tilde_is_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert expand_home("~/frames") == tmp_path / "frames"
    assert expand_home(Path("~")) == tmp_path


@pytest.mark.parametrize("path", ["/data/frames", "frames", "frames/~x"])
def test_a_path_that_starts_with_no_tilde_is_kept_as_given(path: str) -> None:
    assert expand_home(path) == Path(path)


@pytest.mark.parametrize("path", ["~no-such-user-here", "~no-such-user-here/frames"])
def test_a_path_under_a_home_that_does_not_exist_raises_no_such_home_naming_it(path: str) -> None:
    with pytest.raises(NoSuchHome, match=f"^{path}: no such user's home folder$") as raised:
        expand_home(Path(path))
    assert raised.value.path == path


def test_a_tilde_folder_under_the_current_one_is_not_read_as_a_home(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # pathlib drops "./": Path("./~root").expanduser() was root's home.
    monkeypatch.chdir(tmp_path)
    assert expand_home("./~root/x") == tmp_path / "~root" / "x"
    assert expand_home(expand_home("./~root/x")) == tmp_path / "~root" / "x"
