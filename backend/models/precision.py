"""Numeric precision of the SAM models (``SAMVID_PRECISION``), for clicks and tracking alike.

``auto`` is bf16 on a CPU with AVX512-BF16 or AMX (the matrix units run bf16 natively),
fp16 on CUDA and fp32 anywhere else. ``int8`` is dynamic quantization of the linear layers
(weights stored as int8, activations quantized per call), CPU only. A precision the
device lacks is refused when the model is loaded, never at the first click.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samvid.errors import ConfigError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


class UnsupportedPrecision(ConfigError):
    """SAMVID_PRECISION names an unknown precision or one the device cannot run."""


@dataclass(frozen=True)
class Precision:
    """A resolved precision: ``name`` is fp32, bf16, fp16 or int8, never auto."""

    name: str

    @property
    def dtype(self) -> Any:
        """The floating dtype of weights and activations (int8 computes around fp32)."""
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name, torch.float32)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where they cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def auto_precision(device: str, flags: frozenset[str]) -> str:
    """bf16 on CPUs with AVX512-BF16 or AMX, fp16 on CUDA, fp32 otherwise.

    >>> auto_precision("cpu", frozenset({"avx2", "amx_bf16"})), auto_precision("cuda:1", frozenset())
    ('bf16', 'fp16')
    >>> auto_precision("cpu", frozenset({"avx2"})), auto_precision("mps", frozenset())
    ('fp32', 'fp32')
    """
    if device.startswith("cuda"):
        return "fp16"
    if device == "cpu" and any(f in flags for f in BF16_CPU_FLAGS):
        return "bf16"
    return "fp32"


def resolve_precision(requested: str, device: str, flags: frozenset[str] | None = None) -> Precision:
    """The precision to run ``device`` at; raises ``UnsupportedPrecision`` naming the choices.

    ``device`` is a resolved device (cpu, cuda, cuda:N, mps), not ``auto``.
    """
    name = (requested or "auto").strip().lower()
    if name not in PRECISIONS:
        raise UnsupportedPrecision(
            f"SAMVID_PRECISION={requested!r} is not a precision; choose one of {', '.join(PRECISIONS)}"
        )
    if name == "auto":
        return Precision(auto_precision(device, cpu_flags() if flags is None else flags))
    kind = device.split(":", 1)[0]
    refused = {
        ("fp16", "cpu"): "fp16 runs on CUDA, not on the CPU: use bf16 (fast on CPUs with "
                         "AVX512-BF16 or AMX), int8 or fp32",
        ("int8", "cuda"): "int8 (dynamic quantization) runs on the CPU only: on CUDA use fp16, bf16 or fp32",
        ("int8", "mps"): "int8 (dynamic quantization) runs on the CPU only: on MPS use fp16 or fp32",
    }
    if (name, kind) in refused:
        raise UnsupportedPrecision(f"SAMVID_PRECISION={name} on {device}: {refused[(name, kind)]}")
    return Precision(name)


def apply_precision(model: Any, precision: Precision) -> Any:
    """``model`` at ``precision``: cast (fp32/bf16/fp16) in place, or a quantized copy (int8).

    Quantizing copies, so one fp32 model can serve several precisions (the bench)."""
    if precision.name != "int8":
        return model.to(precision.dtype)
    import torch

    with warnings.catch_warnings():
        # torch.ao.quantization is marked deprecated in favour of torchao, and still works
        # in torch 2.13; torchao's int8 path needs a compiler here (measured: docs/models.md).
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model).float(), {torch.nn.Linear}, dtype=torch.qint8)
