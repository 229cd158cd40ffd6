"""``--fill`` takes samvid's own predictions only: frames whose predictions are all other
models' are counted, and the command says to pass --include-predictions, not nothing."""

from __future__ import annotations

from types import SimpleNamespace

from export_studio import CONFIG, rect, region

from samvid.commands.export import summary_lines
from samvid.export import FORMATS, export
from samvid.export.frames import Problems
from samvid.export.reader import ProjectReader
from samvid.studio.client import Project


class Prelabelled:
    """Label Studio answering one frame task holding only ``model``'s prediction."""

    url = "http://127.0.0.1:9"
    api_key = "token"

    def __init__(self, model: str) -> None:
        self.model = model

    def project(self, value):
        return Project(1, "prelabelled", CONFIG)

    def task_rows(self, project_id, query=None):
        return [{"id": 1, "data": {"clip": "c", "frame": 0, "image": "/data/0.png"},
                 "total_annotations": 0, "total_predictions": 1}]

    def list_annotations(self, task_id):
        return []

    def list_predictions(self, task_id):
        return [SimpleNamespace(id=1, result=region(rect(0, 0, 5, 5), "car", 1), model_version=self.model,
                                score=0.9)]


def exported_lines(model: str, tmp_path, **flags) -> tuple[int, list[str]]:
    problems = Problems()
    reader = ProjectReader(Prelabelled(model), 1, problems=problems, **flags)
    summary = export(reader, FORMATS["coco"][0](tmp_path, reader.categories, problems))
    return summary.frames, summary_lines(summary, fill=True)


def test_fill_with_only_other_models_predictions_says_to_pass_include_predictions(tmp_path):
    frames, lines = exported_lines("other-model", tmp_path, fill=True)
    assert frames == 0
    assert lines == ["1 frames have only other models' predictions, which --fill does not take: "
                     "pass --include-predictions to export them"]


def test_fill_says_nothing_more_when_it_takes_samvids_predictions_or_any_models_are_included(tmp_path):
    assert exported_lines("samvid-0.1", tmp_path / "samvid", fill=True) == (1, [])
    assert exported_lines("other-model", tmp_path / "any", include_predictions=True) == (1, [])


def test_fill_takes_the_prediction_written_last_not_the_highest_id(tmp_path):
    # samvid writes a frame's prediction over in place: a re-propagated frame keeps its id,
    # lower than that of automatic masks written before the re-propagation.
    class Rewritten(Prelabelled):
        def list_predictions(self, task_id):
            return [SimpleNamespace(id=4, result=region(rect(0, 0, 5, 5), "car", 1), model_version="samvid-track:flow",
                                    score=0.9, created_at="2026-12-01T10:00:00Z", updated_at="2026-12-01T12:00:00Z"),
                    SimpleNamespace(id=5, result=region(rect(5, 5, 5, 5), "car", 1), model_version="samvid-auto:sam",
                                    score=0.5, created_at="2026-12-01T11:00:00Z", updated_at="2026-12-01T11:00:00Z")]

    reader = ProjectReader(Rewritten("samvid-track:flow"), 1, problems=Problems(), fill=True)
    (info,) = reader.clips()
    (frame,) = reader.frames(info)
    assert frame.masks.masks[0][0, 0]  # the re-propagated track's box, at the top left
