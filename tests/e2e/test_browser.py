"""A user's first session, in a real browser: `samvid up`, log in, click, accept, submit,
and the next frame opens already labelled.

Headless Debian Chromium driven by Playwright, against Label Studio and the backend that
`samvid up --model standin:30` starts (the stand-in answers a click with a disk of radius
30 around it, so every mask is known). Each step leaves a screenshot in artifacts/e2e/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from services import wait_until

from samvid.demo import DemoClip
from samvid.studio.results import decode_brush

pytestmark = [pytest.mark.browser, pytest.mark.studio]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--disable-background-networking"]
UI_TIMEOUT_MS = 60_000  # a cold Label Studio page on a busy 2-core machine


@pytest.fixture(scope="module")
def page(running):
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def inside_ball(mask: np.ndarray, frame: int) -> float:
    """Share of the mask's pixels that lie on the demo clip's ball at ``frame``."""
    clip = DemoClip()
    cx, cy = clip.ball_centre(frame)
    ys, xs = np.nonzero(mask)
    on_ball = (xs - cx) ** 2 + (ys - cy) ** 2 <= (clip.radius + 2) ** 2
    return float(on_ball.mean()) if len(xs) else 0.0


def brush_mask(results: list[dict]) -> np.ndarray:
    (region,) = [r for r in results if r["type"] == "brushlabels"]
    return decode_brush(region)


def test_click_accept_submit_then_the_next_frame_is_labelled(running, page) -> None:
    stack, ready = running.stack, running.ready
    creds = stack.credentials
    tasks = ready["task_ids"]
    assert "standin" in ready["model"]

    # 1. Log in with the admin `samvid up` created.
    page.goto(f"{ready['studio_url']}/user/login/")
    page.fill("#email", creds["username"])
    page.fill("#password", creds["password"])
    shot(page, "01-login")
    page.click("button.login-button")
    page.wait_for_url(lambda url: "/user/login" not in url)

    # 2. Frame 0 of the demo clip, as the banner's URL opens it.
    page.goto(ready["open_url"])
    image = page.locator(".konvajs-content").first
    image.wait_for(state="visible")
    page.get_by_text("frame 0", exact=False).first.wait_for()
    shot(page, "02-frame0")

    # 3. Smart keypoint on the ball: Auto-Annotation on, the smart tools' flyout, the
    #    keypoint tool, its label (the second control: KeyPointLabels), then a click.
    page.get_by_text("Auto-Annotation").click()
    page.hover("button.lsf-tool_smart:not([aria-label])")
    page.click("button.lsf-tool_smart[aria-label=key-point-tool]", force=True)
    page.locator(".lsf-label").nth(1).click()
    box = image.bounding_box()
    clip = DemoClip()
    cx, cy = clip.ball_centre(0)
    page.mouse.click(box["x"] + box["width"] * cx / clip.width,
                     box["y"] + box["height"] * cy / clip.height)

    # 4. The mask comes back as a suggestion; accept it and see the brush region.
    accept = page.locator("[data-testid=bottombar-accept-suggestions-button]")
    accept.wait_for(state="visible")
    shot(page, "03-suggestion")
    accept.click()
    page.locator(".lsf-tree__node_type_brushregion").first.wait_for(state="visible")
    shot(page, "04-accepted")

    # 5. Submit: Label Studio saves it and calls the backend's webhook.
    page.click("button[aria-label='Submit current annotation']")
    saved = wait_until(lambda: stack.api("GET", f"/api/tasks/{tasks[0]}/annotations"),
                       30, "the submitted annotation")
    shot(page, "05-submitted")
    mask0 = brush_mask(saved[0]["result"])
    assert mask0.shape == (clip.height, clip.width)
    assert mask0.sum() > 500 and inside_ball(mask0, 0) > 0.95

    # 6. Propagation wrote frame 1's prediction; opening frame 1 shows it.
    predicted = wait_until(lambda: stack.api("GET", "/api/predictions/",
                                             params={"task": tasks[1]}),
                           90, "frame 1's propagated prediction")
    mask1 = brush_mask(predicted[0]["result"])
    assert mask1.sum() > 500 and inside_ball(mask1, 1) > 0.9
    page.goto(f"{ready['studio_url']}/projects/{ready['project_id']}/data?task={tasks[1]}")
    page.get_by_text("frame 1", exact=False).first.wait_for()
    page.locator(".lsf-tree__node_type_brushregion").first.wait_for(state="visible")
    shot(page, "06-frame1-propagated")
