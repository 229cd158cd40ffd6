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
