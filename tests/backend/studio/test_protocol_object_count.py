"""How many objects a /predict request makes, and the limit on them: counted as made."""

from __future__ import annotations

from typing import Any

import pytest

from samvid.core.errors import PromptError
from samvid.core.prompts import MAX_OBJECTS
from samvid.studio.protocol import prompts_from_context


def _click(label: str | None, x: float = 50.0, page: int | None = None, positive: bool = True) -> dict[str, Any]:
    value: dict[str, Any] = {"x": x, "y": 50.0}
    if label is not None:
        value["keypointlabels"] = [label]
    item = {"type": "keypointlabels", "to_name": "image", "value": value,
            "original_width": 100, "original_height": 100, "is_positive": positive}
    return item if page is None else {**item, "item_index": page}


@pytest.mark.parametrize("extra", [_click(None, 10.0), _click("not-this", positive=False)],
                         ids=["unlabelled-click", "negative-only-label"])
def test_a_click_folded_into_the_objects_does_not_count_against_the_limit(extra):
    # Counted before the merge, the clicks refining MAX_OBJECTS objects were refused as one too many.
    items = [extra] + [_click(f"L{i}") for i in range(MAX_OBJECTS)]
    prompts = prompts_from_context({"result": items})
    assert len(prompts) == MAX_OBJECTS
    assert sorted(p.label for p in prompts) == sorted(f"L{i}" for i in range(MAX_OBJECTS))


def test_objects_on_the_pages_of_a_task_add_up_to_the_limit_and_the_refusal_says_so():
    items = [_click(label, page=page) for page in range(MAX_OBJECTS // 2 + 1) for label in ("car", "person")]
    with pytest.raises(PromptError) as refused:
        prompts_from_context({"result": items})
    assert str(refused.value).startswith(f"at most {MAX_OBJECTS} objects per request, got {MAX_OBJECTS + 2} "
                                         "(one per label on each image and page)")
    assert "labels per image" not in str(refused.value)


def test_thousands_of_objects_and_negative_only_labels_are_refused_before_they_are_folded(monkeypatch):
    # The fold copies every negative-only label into every object: counted after it, such
    # a request took minutes and gigabytes before its refusal.
    from samvid.studio import protocol

    def fold(by_label):
        raise AssertionError("folded before the count")

    monkeypatch.setattr(protocol, "_fold_negative_only", fold)
    items = [_click(f"in{i}") for i in range(3000)] + [_click(f"out{i}", positive=False) for i in range(3000)]
    with pytest.raises(PromptError, match=f"at most {MAX_OBJECTS} objects per request, got 3000 "):
        prompts_from_context({"result": items})


def test_a_request_naming_more_labels_than_any_accepted_one_can_is_refused_as_they_come():
    many = MAX_OBJECTS * 66 + 1
    items = [_click(f"out{i}", positive=False, page=i % 7) for i in range(many)]
    with pytest.raises(PromptError, match=f"names over {many - 1} labels"):
        prompts_from_context({"result": items})


def test_the_most_negative_only_labels_an_object_takes_are_folded_into_it():
    items = [_click("car")] + [_click(f"out{i}", positive=False) for i in range(63)]
    [prompt] = prompts_from_context({"result": items})
    assert (prompt.label, len(prompt.points)) == ("car", 64)
