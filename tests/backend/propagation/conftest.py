"""The propagation tests (``samvid.propagation``) share the clip helpers of tests/backend."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
