"""q-norm training plus the contrastive idea loss of a MemoryProcessor.

Each step's objective becomes ``q_norm + weight * idea_loss``: the batch's first ``inputs``
inputs (a random subset) and one similar partner each, from the task's similar-pair generator
(``Task.similar_views``), run through the model under the step's policy seeds;
every seed is a separate set of ideas, in which the other inputs are the dissimilar ones. The
partners are drawn from the trainer's data RNG, so a resumed run stays bit-identical. The idea
term costs two more forward passes of ``inputs`` inputs per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from agents.models.memory import MemoryProcessor
from agents.supervised.idea_loss import DEFAULT_TEMPERATURE, idea_loss
from agents.supervised.trainer import TrainConfig, Trainer
from agents.tasks import SupervisedTask
from agents.tasks.base import Task
from agents.tasks.similarity import SimilarViews


def idea_term(
    model: MemoryProcessor, views: SimilarViews, policy_seed: Tensor, temperature: float
) -> Tensor:
    """The idea loss of the batch and its partners under the seeds ``policy_seed``.

    A per-token seed moves with its token into the partner's order; the partners' ideas are
    put back into the batch's order before the compared positions are taken.
    """
    like = model.head.weight
    partner_seed = policy_seed
    if model.config.seed_mode == "per_token_uniform":
        partner_seed = policy_seed[:, views.order]
    ideas = model.ideas(views.tokens.to(like), policy_seed, views.mask)  # (B, S, T, L, k)
    partner = model.ideas(views.partner_tokens.to(like), partner_seed, views.partner_mask)
    partner = partner[..., views.order.argsort(), :]  # back to the batch's order

    def compared(m: Tensor) -> Tensor:  # (B, S, T, L, k) -> (S, B, T, P * k)
        return m[..., views.compared, :].flatten(-2).transpose(0, 1)

    return idea_loss(compared(ideas), compared(partner), temperature)


@dataclass(frozen=True)
class IdeaConfig:
    """The idea loss's weight and phi's temperature (validated on construction)."""

    weight: float = 0.0
    temperature: float = DEFAULT_TEMPERATURE
    inputs: int = 64  # the first inputs of each batch (a random subset) and their partners

    def __post_init__(self) -> None:
        if not 0 <= self.weight < float("inf") or not 0 < self.temperature < float("inf"):
            raise ValueError(
                f"idea loss weight={self.weight!r}, temperature={self.temperature!r} are "
                "invalid; expected a finite weight >= 0 and a finite temperature > 0"
            )
        if isinstance(self.inputs, bool) or not isinstance(self.inputs, int) or self.inputs < 2:
            raise ValueError(f"idea loss inputs={self.inputs!r} is invalid; expected an int >= 2")


class IdeaTrainer(Trainer):
    """A ``Trainer`` whose objective adds ``idea.weight`` times the idea loss.

    Args:
        task, model, config, generator, rng, compile: As for ``Trainer``.
        idea: The idea loss's weight and temperature.
    """

    model: MemoryProcessor

    def __init__(
        self,
        task: SupervisedTask,
        model: MemoryProcessor,
        config: TrainConfig,
        generator: torch.Generator,
        rng: np.random.Generator,
        idea: IdeaConfig,
        compile: bool = False,
    ) -> None:
        if not isinstance(model, MemoryProcessor):
            raise ValueError("the idea loss needs a MemoryProcessor (--memory-rounds >= 1)")
        if type(task).similar_views is Task.similar_views:
            task.similar_views({}, rng)  # the default: refuses, naming the task
        super().__init__(task, model, config, generator, rng, compile)
        self.idea = idea

    def _objective(self, batch: dict[str, Tensor], policy_seed: Tensor) -> tuple[Tensor, ...]:
        """The q-norm plus the weighted idea loss, the mean loss and the success fraction."""
        loss, *stats = super()._objective(batch, policy_seed)
        inputs = {name: value[: self.idea.inputs] for name, value in batch.items()}
        views = self.task.similar_views(inputs, self.rng)
        ideas = idea_term(self.model, views, policy_seed, self.idea.temperature)
        return loss + self.idea.weight * ideas, *stats
