"""`RecurrentPPO`: sb3-contrib's RecurrentPPO, able to train on MultiBinary actions.

SB3's own rollout buffers hand MultiBinary actions (int8) to the Bernoulli log-probability
as float32; sb3-contrib 2.9's recurrent buffers keep them as int8 and the first update fails
("result type Float can't be cast to the desired output type Char"). This subclass stores
them in a float32 Box of the same shape; nothing else changes, and its saved models load
with sb3-contrib's class too.
"""

from __future__ import annotations

import numpy as np
import sb3_contrib
from gymnasium import spaces


class RecurrentPPO(sb3_contrib.RecurrentPPO):
    """sb3-contrib's RecurrentPPO whose rollout buffer keeps MultiBinary actions as float32."""

    def _setup_model(self) -> None:
        super()._setup_model()
        if isinstance(self.action_space, spaces.MultiBinary):
            shape = self.action_space.shape
            self.rollout_buffer.action_space = spaces.Box(0.0, 1.0, shape, np.float32)
            self.rollout_buffer.reset()
