"""Optical strain magnitude from the flow's spatial derivatives.

For a displacement field (u, v) the infinitesimal strain tensor is
e_xx = du/dx, e_yy = dv/dy, e_xy = e_yx = (du/dy + dv/dx) / 2, and its magnitude is
sqrt(e_xx^2 + e_yy^2 + e_xy^2 + e_yx^2) = sqrt(u_x^2 + v_y^2 + (u_y + v_x)^2 / 2)
(Liong et al., optical strain for micro-expressions; the third channel of STSTNet's input).
Derivatives are central differences (one-sided at the border), in units of the crop's pixels.
"""

from __future__ import annotations

import numpy as np


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """float32 (H, W) strain magnitude of a flow field (H, W, 2)."""
    u = flow[..., 0].astype(np.float64)
    v = flow[..., 1].astype(np.float64)
    u_y, u_x = np.gradient(u)
    v_y, v_x = np.gradient(v)
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)
