"""The prompt's home is ``samvid.core.prompts`` (shared with the tracker); this name
stays for the backend's imports."""

from samvid.core.prompts import MAX_POINTS, Prompt

__all__ = ["MAX_POINTS", "Prompt"]
