"""Small drawing helpers shared by the envs' `rgb_array` renderers."""

from __future__ import annotations

import numpy as np

WHITE = (255, 255, 255)
GREY = (200, 200, 200)
BLACK = (30, 30, 30)
PALETTE = np.array(
    [
        (230, 75, 53),
        (77, 187, 213),
        (0, 160, 135),
        (60, 84, 136),
        (243, 155, 127),
        (132, 145, 180),
        (145, 209, 194),
        (220, 0, 0),
    ],
    dtype=np.uint8,
)


def upscale(cells: np.ndarray, cell_px: int = 24, border_px: int = 1) -> np.ndarray:
    """Turns an (H, W, 3) array of cell colours into an image of cell_px-sized squares."""
    image = np.repeat(np.repeat(np.asarray(cells, dtype=np.uint8), cell_px, 0), cell_px, 1)
    if border_px:
        image[::cell_px, :] = GREY
        image[:, ::cell_px] = GREY
    return image


def color_of(index: int) -> np.ndarray:
    """A distinct colour for a small integer (colour classes, agents)."""
    return PALETTE[index % len(PALETTE)]
