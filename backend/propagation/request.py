"""A propagation request (``PropagationRequest``) as the webhook, ``/propagate`` and the
CLI give it: each field checked at once, so that a job never fails only once it runs,
and the key (``clip_key``) that runs a clip's jobs one at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from samvid.errors import BadRequest
from samvid.jobs import newer_than_this, refuse_unknown_fields, versioned
from samvid.settings import DIRECTIONS, MAX_PROPAGATE_FRAMES
from samvid.tracker.engines import engine_choices, is_engine

MAX_OBJECTS = 100  # per stretch of a job: memory and time grow with every object tracked
MAX_FRAME = 10_000_000  # beyond any video samvid imports (4 hours at 240 frames/s is 3.5 million)
# A field added here bumps jobs.PAYLOAD_VERSIONS["propagate"]: a worker of the version before
# then refuses the job as a newer samvid's, not as a request with an unknown field.
REQUEST_KEYS = ("project", "clip", "frame", "direction", "frames", "objects", "engine", "all_frames",
                "bridge", "before")
JOB_KIND = "propagate"  # the jobs.RUNNERS kind of its jobs


@dataclass(frozen=True)
class PropagationRequest:
    project: int
    clip: str
    frame: int  # the source frame index (task data "frame")
    direction: str = "forward"
    frames: int = 0  # at most this many frames each way; 0 = up to the next human frame
    # The objects to propagate (``object_key``): an int is an object-id number, a string a
    # region id; empty = all.
    objects: tuple[int | str, ...] = ()
    engine: str = "flow"
    all_frames: bool = False  # track through every source-video frame between frame tasks
    bridge: bool = False  # a stretch between two human frames is tracked from both
    before: bool = True  # with bridge: recompute the stretch back to the previous human frame too

    @classmethod
    def from_payload(cls, payload: Any) -> PropagationRequest:
        if not isinstance(payload, dict):
            raise BadRequest("the propagation request must be a JSON object")
        newer = newer_than_this(JOB_KIND, payload)
        if newer is not None:
            # A worker says this before it gets here (``jobs.run_payload``): this is the edge,
            # ``samvid propagate --backend-url`` of a newer samvid posting to this backend.
            raise BadRequest(f"this request was {newer}: send it with a samvid of this backend's version, "
                             "or upgrade the backend")
        if not all(key in payload for key in ("project", "clip", "frame")):
            raise BadRequest("give project (id), clip (string) and frame (index)")
        refuse_unknown_fields(payload, REQUEST_KEYS, "a propagation request")
        project = whole_number(payload["project"], "project", "a project id", 2**63 - 1)
        clip = payload["clip"]
        # Blank as prelabel's --clip is blank (``--clip " "``, a quoted variable of spaces): no
        # task's clip is that, and Label Studio was asked before the job said it found none.
        if not isinstance(clip, str) or not clip.strip():
            raise BadRequest(f"clip must be a clip id (the text of the tasks' data 'clip'), not {clip!r}")
        frame = whole_number(payload["frame"], "frame", "a frame index", MAX_FRAME)
        direction = payload.get("direction", "forward")
        if direction not in DIRECTIONS:
            raise BadRequest(f"direction must be one of {', '.join(DIRECTIONS)}")
        frames = payload.get("frames")
        frames = 0 if frames is None else whole_number(frames, "frames", "a number of frames", MAX_PROPAGATE_FRAMES)
        objects = payload.get("objects") or ()
        if not isinstance(objects, (list, tuple)):
            raise BadRequest("objects must be a list of object ids")
        # Said before the job is queued: it failed only once it ran, advising the groups it was
        # one of. A list past 1000 is not read one by one (the same ID twice is one object).
        if len(objects) > 10 * MAX_OBJECTS:
            raise BadRequest(f"at most {MAX_OBJECTS} objects a job, got {len(objects)}: split them into groups")
        objects = tuple(object_key(o) for o in objects)
        if len(set(objects)) > MAX_OBJECTS:
            raise BadRequest(f"at most {MAX_OBJECTS} objects a job, got {len(set(objects))}: "
                             "split them into groups")
        flags = {name: payload.get(name, default) for name, default in
                 (("all_frames", False), ("bridge", False), ("before", True))}
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise BadRequest(f"{name} must be true or false")
        return cls(project, clip, frame, direction, frames, objects,
                   engine_name(payload.get("engine")), flags["all_frames"], flags["bridge"], flags["before"])

    def to_payload(self) -> dict[str, Any]:
        return versioned(JOB_KIND, {
            "project": self.project, "clip": self.clip, "frame": self.frame,
            "direction": self.direction, "frames": self.frames,
            "objects": list(self.objects), "engine": self.engine, "all_frames": self.all_frames,
            "bridge": self.bridge, "before": self.before})


def clip_key(project: int, clip: str) -> str:
    """The job key (``samvid.jobs``) of the jobs that propagate in a clip, whatever started
    them (the webhook, ``/propagate``, a pre-labelling of the clip): one runs at a time, so
    a correction's job runs after, never beside, one from the annotation it corrects."""
    return f"{project}:{clip}"


def whole_number(value: Any, name: str, what: str, top: int) -> int:
    """``value`` of a request as a whole number from 0 to ``top``: an integer or a float
    without a fraction (JSON has one kind of number). ``True`` or 1.9 would otherwise read
    as 1: another project, another frame."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise BadRequest(f"{name} must be {what}, a whole number from 0 to {top}, not {value!r}")
    return value


def object_key(value: Any) -> int | str:
    """One of a request's ``objects``: a JSON number is an object-id number (an int; 1.0
    is the object 1, as JSON may send it), a string a region id. Kept apart, they stay
    apart in the job's payload: object 3 and a region whose id is "3" are two objects.
    A string of digits names the object of that number where the frame has no region of
    that id (``wanted_identities``): the payloads of jobs queued before numbers were kept apart.
    Anything else names no object (object-id numbers are whole numbers from 1): the job
    would fail only once it ran."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and value.strip():
        return value
    raise BadRequest("objects must be a list of object ids (region ids, or object-id numbers: whole numbers "
                     f"from 1), not {value!r}")


def engine_name(value: Any) -> str:
    """A request's tracker engine (``flow`` when none), refused at once when unknown: a
    job that accepted it would fail only once it ran."""
    name = value or "flow"
    if not isinstance(name, str) or not is_engine(name):
        raise BadRequest(f"engine {name!r} is unknown: choose one of {engine_choices()}")
    return name
