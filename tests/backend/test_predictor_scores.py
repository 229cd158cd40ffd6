"""The score a prediction reports says how sure the model is of the mask it returns."""

from __future__ import annotations

from ls_requests import write_png

from samvid.core.prompts import Prompt
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings


def test_a_mask_that_a_negative_click_emptied_reports_no_confidence(tmp_path):
    path = write_png(tmp_path / "frame.png", 64, 48)
    settings = Settings.from_env({}, model="standin", local_roots=(tmp_path,), precompute_on_open=False)
    predictor = Predictor.from_settings(settings, StandInSegmenter(radius=20))
    box = (20.0, 14.0, 30.0, 24.0)
    assert predictor.predict(str(path), Prompt(box=box)).prediction.score == 1.0
    # The stand-in cuts a 20 px disk around a negative click: all of the box goes.
    emptied = predictor.predict(str(path), Prompt(points=((25.5, 19.5),), labels=(0,), box=box)).prediction
    assert not emptied.mask.any()
    assert emptied.score == 0.0
