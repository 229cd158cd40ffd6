"""Label Studio's separate-control form clicked through in a real browser: a plain smart
<Brush> labelled by a separate <Labels> row on the same image, with a smart <KeyPoint>
(tests/label_configs.py SEPARATE). Pick "Car" in the Labels row, click the ball with the
smart keypoint, accept, submit: Label Studio saves the mask as a "brush" region plus a
"labels" twin with the same id, and the next frame opens with the propagated region in
the same form.

Runs against the session's `samvid up --model standin:30` (a click is answered with a disk
of radius 30), in a second project of the demo clip that `samvid import` connects to the
same backend, as a user adds one. The browser's interactive request and answer go to
artifacts/e2e/separate-form-*.json with the screenshots.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_browser
from label_configs import SEPARATE
from services import wait_until
from test_browser import (
    ARTIFACTS,
    active_tools,
    at,
    auto_annotation_on,
    inside_ball,
    log_in,
    shot,
    smart_tool,
)

from samvid.demo import DemoClip
from samvid.studio.client import Studio
from samvid.studio.results import decode_brush, joined_labels

pytestmark = [pytest.mark.browser, pytest.mark.studio]
log = logging.getLogger(__name__)
# test_browser.py's module-scoped Chromium page, as a fixture of this module (a page of its own).
browser_page = test_browser.page


def import_separate_project(running, tmp_path: Path) -> tuple[int, list[int]]:
    """`samvid import --config <SEPARATE as a file>` of the session's demo clip, connected to
    its backend (interactive, with the webhook Label Studio adds), as a user adds a project
    of their own config; returns (project id, task ids in frame order)."""
    stack, ready = running.stack, running.ready
    config = tmp_path / "separate.xml"
    config.write_text(SEPARATE)
    argv = [sys.executable, "-m", "samvid.cli", "import", "--project", "separate form",
            "--config", str(config), "--url", ready["studio_url"],
            "--api-key", stack.credentials["token"],
            "--document-root", str(stack.data_dir / "files"),
            "--backend-url", ready["backend_url"], "--json",
            str(stack.data_dir / "demo" / "demo.mp4")]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    project = json.loads(done.stdout)["project_id"]
    tasks = Studio(ready["studio_url"], stack.credentials["token"]).list_tasks(project)
    return project, [t.id for t in sorted(tasks, key=lambda t: int(t.data["frame"]))]


def open_frame(page, studio_url: str, project: int, task: int) -> Any:
    """The labelling view of ``task``; returns the image's canvas once it is shown (the
    SEPARATE config has no header to wait for)."""
    page.goto(f"{studio_url}/projects/{project}/data?task={task}")
    image = page.locator(".konvajs-content").first
    image.wait_for(state="visible")
    page.locator(".lsf-label", has_text="Car").first.wait_for()
    return image


def pick_car(page) -> None:
    page.locator(".lsf-label", has_text="Car").first.click()


def record(name: str, data: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"separate-form-{name}.json").write_text(json.dumps(data, indent=1) + "\n")


def shapes(result: list[dict]) -> list[tuple[str, str, str]]:
    """(id, type, from_name) of each result item: the form a region is saved in."""
    return [(r.get("id", ""), r["type"], r["from_name"]) for r in result]


def car_mask(result: list[dict]) -> np.ndarray:
    """The one mask of ``result`` in the separate form: a "brush" region and its "labels"
    twin (same id) saying "Car"."""
    brush = [r for r in result if r["type"] == "brush"]
    twins = [r for r in result if r["type"] == "labels"]
    assert len(brush) == 1 and len(twins) == 1, shapes(result)
    assert (brush[0]["from_name"], twins[0]["from_name"]) == ("brush", "labels")
    assert twins[0]["id"] == brush[0]["id"] and twins[0]["value"]["labels"] == ["Car"]
    (region,) = joined_labels(result)
    assert region["value"]["brushlabels"] == ["Car"]
    return decode_brush(region)


def test_separate_labels_row_labels_the_smart_keypoint_mask_and_its_propagation(
        running, browser_page, tmp_path) -> None:
    page, stack, ready = browser_page, running.stack, running.ready
    studio = ready["studio_url"]
    project, tasks = import_separate_project(running, tmp_path)
    clip = DemoClip()
    assert len(tasks) == clip.frames
    # Connected as the shipped project is: interactive, so a smart click reaches samvid.
    backends = stack.api("GET", "/api/ml", params={"project": project})
    assert [(b["url"], b["is_interactive"]) for b in backends] == [(ready["backend_url"], True)]

    # 1. Frame 0, Auto-Annotation on, "Car" in the Labels row, the smart keypoint tool.
    log_in(page, running)
    image = open_frame(page, studio, project, tasks[0])
    auto_annotation_on(page)
    pick_car(page)
    tools_after_label = active_tools(page)
    smart_tool(page, "key-point-tool")
    tools = active_tools(page)
    car_picked = "lsf-label_selected" in (
        page.locator(".lsf-label", has_text="Car").first.get_attribute("class") or "")
    log.info("tools after picking Car: %s; after the smart keypoint: %s; Car picked: %s",
             tools_after_label, tools, car_picked)
    shot(page, "20-separate-frame0")

    # 2. A click on the ball: what the browser sends, and samvid's answer.
    with page.expect_response(lambda r: "interactive-annotating" in r.url) as answered:
        page.mouse.click(*at(image, *clip.ball_centre(0), clip.width, clip.height))
    response = answered.value
    sent = response.request.post_data_json
    record("request", sent)
    record("answer", {"status": response.status, "body": response.json() if response.ok else response.text()})
    assert response.ok, response.text()
    prompts = sent["context"]["result"]
    log.info("sent with the click: %s", shapes(prompts))
    # Label Studio 1.23 sends the plain keypoint with the label picked in the Labels row in
    # its value, and a "labels" twin of it (same id) from that row.
    assert [(t, f) for _, t, f in shapes(prompts)] == [("keypoint", "point"), ("labels", "labels")]
    assert len({p["id"] for p in prompts}) == 1
    assert [p["value"]["labels"] for p in prompts] == [["Car"], ["Car"]]
    suggested = response.json()["data"]["result"]

    # 3. Accept the suggestion; the brush region is listed; submit.
    accept = page.locator("[data-testid=bottombar-accept-suggestions-button]")
    accept.wait_for(state="visible")
    shot(page, "21-separate-suggestion")
    accept.click()
    page.locator(".lsf-tree__node_type_brushregion").first.wait_for(state="visible")
    shot(page, "22-separate-accepted")
    saved = test_browser.submit(page, lambda: stack.api("GET", f"/api/tasks/{tasks[0]}/annotations"))
    record("saved", saved[0]["result"])
    shot(page, "23-separate-submitted")

    assert ("key-point-tool", True) in tools and car_picked, (tools_after_label, tools)
    assert {r["type"] for r in suggested} == {"brush", "labels"}, shapes(suggested)
    mask0 = car_mask(saved[0]["result"])
    assert mask0.shape == (clip.height, clip.width)
    assert mask0.sum() > 500 and inside_ball(mask0, 0) > 0.95

    # 4. Propagation wrote frame 1's prediction in the same form; frame 1 opens with it.
    predicted = wait_until(lambda: stack.api("GET", "/api/predictions/", params={"task": tasks[1]}),
                           90, "frame 1's propagated prediction")
    record("frame1-prediction", predicted[0]["result"])
    mask1 = car_mask(predicted[0]["result"])
    assert mask1.sum() > 500 and inside_ball(mask1, 1) > 0.9
    open_frame(page, studio, project, tasks[1])
    region = page.locator(".lsf-tree__node_type_brushregion")
    region.first.wait_for(state="visible")
    shot(page, "24-separate-frame1-propagated")
    assert region.count() == 1 and "Car" in region.first.inner_text()
