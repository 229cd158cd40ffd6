"""What stands out in an image: the spectral residual saliency map (Hou & Zhang, 2007).

An image's log amplitude spectrum is mostly a smooth curve shared by natural images;
what departs from its local average (the residual) is what the eye is drawn to. Back
in the image domain with the original phase, the residual marks where the image
departs from its own repetitive content: above all the outlines and detail of what
differs from its surroundings, at any colour, blurred over a few pixels of the copy.
The constants are the paper's, as OpenCV's ``StaticSaliencySpectralResidual`` uses
them: a 64x64 grey copy, a 3x3 mean of the log amplitude, a 5x5 Gaussian of sigma 8
on the map.
"""

from __future__ import annotations

import cv2
import numpy as np

SIDE = 64


def spectral_residual(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The saliency of RGB ``image`` in [0, 1], as float32 of ``size`` (h, w)."""
    grey = cv2.cvtColor(cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    spectrum = np.fft.fft2(grey.astype(np.float32))
    log_amplitude = np.log(np.abs(spectrum) + 1e-9).astype(np.float32)
    residual = log_amplitude - cv2.blur(log_amplitude, (3, 3))
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = cv2.GaussianBlur(saliency.astype(np.float32), (5, 5), 8)
    saliency = saliency / np.float32(max(float(saliency.max()), 1e-12))
    return cv2.resize(saliency, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
