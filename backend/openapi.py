"""samvid's HTTP API described in OpenAPI 3.1: ``openapi.yaml`` beside this module.

``GET /openapi.json`` serves it; the tests check it against every route and fuzz the
app with it (schemathesis).
"""

from __future__ import annotations

import copy
from functools import lru_cache
from importlib.resources import files
from typing import Any

import yaml

from samvid import __version__


@lru_cache(maxsize=1)
def _packaged() -> dict[str, Any]:
    return yaml.safe_load(files("samvid").joinpath("openapi.yaml").read_text(encoding="utf-8"))


def spec(auth_required: bool = False) -> dict[str, Any]:
    """The description of this samvid; with ``auth_required`` (SAMVID_AUTH_* set) basic
    auth is no longer optional on the routes that check it."""
    doc = copy.deepcopy(_packaged())
    doc["info"]["version"] = __version__
    if auth_required:
        doc["security"] = [{"basicAuth": []}]
    return doc
