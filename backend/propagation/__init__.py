"""Propagation inside Label Studio: a human frame's masks flow into the frame tasks around it.

The job reads the clip's frame tasks, takes the latest human annotation on the
start frame, tracks the stretches it bounds (``tracker.bridge.plan``: up to the next
human frame; with ``bridge``, also back to the previous one, and a stretch between two
human frames tracked from both) and writes each frame's masks back as a *prediction* (never an
annotation). Human work is a boundary: only samvid's own earlier predictions are
replaced.

The modules, one idea each: ``request`` (what a job is asked), ``seeds`` (the objects of a
human annotation), ``sources`` (the frames an engine walks), ``results`` (what a frame is
written with), ``supersede`` (a human frame changed while a job ran), ``stretches`` (a
job's stretches, as pure steps), ``clip`` (the reads and locked writes in Label Studio),
``propagator`` (a job's run, and a frame filled on opening) and ``job`` (the job's entry
point). This package gives the names other packages use.
"""

from samvid.propagation.job import propagator_for, run_job
from samvid.propagation.propagator import OnOpen, Propagator
from samvid.propagation.request import (
    MAX_FRAME,
    MAX_OBJECTS,
    PropagationRequest,
    clip_key,
    engine_name,
    whole_number,
)
from samvid.propagation.results import MODEL_PREFIX, frame_results
from samvid.propagation.seeds import (
    ObjectSeed,
    annotation_result,
    human_annotated,
    left_the_view,
    match_redrawn,
    seeds_from_result,
)
from samvid.propagation.sources import TaskFrames

__all__ = [
    "MAX_FRAME", "MAX_OBJECTS", "MODEL_PREFIX", "ObjectSeed", "OnOpen", "PropagationRequest", "Propagator",
    "TaskFrames", "annotation_result", "clip_key", "engine_name", "frame_results", "human_annotated",
    "left_the_view", "match_redrawn", "propagator_for", "run_job", "seeds_from_result", "whole_number",
]
