"""Label Studio webhook events -> the work they ask samvid for."""

from __future__ import annotations

from typing import Any

from samvid.errors import BadRequest
from samvid.propagation import PropagationRequest
from samvid.settings import Settings
from samvid.studio.protocol import frame_index

PROPAGATING_ACTIONS = frozenset({"ANNOTATION_CREATED", "ANNOTATION_UPDATED"})


def propagation_from_event(body: dict[str, Any], settings: Settings) -> PropagationRequest | None:
    """The propagation a saved frame annotation asks for; None for every other event."""
    action = body.get("action")
    if not isinstance(action, str) or action not in PROPAGATING_ACTIONS:  # a JSON object is unhashable
        return None
    annotation = body.get("annotation")
    if annotation is None and body.get("task") is None:
        # Label Studio posts the action alone from a webhook whose "Send payload" is off:
        # answered "ignored", no submit ever propagated and nothing said why.
        raise BadRequest(f"the {action} event carries no annotation or task: turn on \"Send payload\" "
                         "(send_payload) on the project's webhook to this backend")
    if isinstance(annotation, dict) and annotation.get("was_cancelled"):
        return None  # a skip: no mask to propagate, and the frame's human work is unchanged
    task = body.get("task")
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        return None
    data = task["data"]
    # As propagation reads a clip's frames: a CSV-imported frame "5" is frame 5 (refused
    # as text, no submit of such a project propagated); a frame that is no index is no
    # frame of the clip, nothing to propagate from.
    frame = frame_index(data.get("frame"))
    if "clip" not in data or frame is None:
        return None  # not a frame task of an imported video
    project = task.get("project")
    if isinstance(project, dict):
        project = project.get("id")
    if project is None and isinstance(body.get("project"), dict):
        project = body["project"].get("id")
    if project is None:  # else refused as a propagation request's missing "project" field
        raise BadRequest("the event names no project (task.project or project.id): send Label "
                         "Studio's whole payload (a webhook with send_payload on)")
    return PropagationRequest.from_payload({
        "project": project, "clip": data["clip"], "frame": frame,
        "direction": settings.propagate_direction, "frames": settings.propagate_frames,
        "bridge": settings.propagate_bridge,
        "engine": settings.tracker,
    })
