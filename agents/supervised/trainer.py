"""Gradient training of a SeededTransformer with the q-norm objective.

Each step draws a fresh batch from the task's env generator and the step's policy seeds, runs
every input under every seed, and minimises ``q_norm`` of the (inputs x seeds) losses with
AdamW, linear warm-up, cosine decay and global-norm clipping. The four variants of the paper:

=========  ===  =====================================================================
variant    q    policy seeds
=========  ===  =====================================================================
``E_r0``   1    one seed r0, drawn once at the start and kept (deterministic model)
``q_r0``   q    r0 as above
``E_R``    1    m fresh random seeds every step, shared by the batch
``q_R``    q    m fresh random seeds every step, shared by the batch (the paper's model)
=========  ===  =====================================================================

``Trainer.state_dict`` and ``Trainer.load_state_dict`` save and restore everything a step
depends on besides the model (AdamW moments, schedule position, both RNGs, r0), so a run resumed
from a checkpoint takes bit-identical steps; ``Trainer.step`` raises ``Diverged`` instead of
applying an update computed from a non-finite loss or gradient.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.models.transformer import SeededTransformer
from agents.runs.compiler import compiled
from agents.supervised.qnorm import q_norm
from agents.tasks import SupervisedTask

VARIANTS = ("E_r0", "q_r0", "E_R", "q_R")


def run_name(
    task: str, size: int, variant: str, q: float | None, n_seeds: int | None, seed: int,
    suffix: str = "",
) -> str:  # fmt: skip
    """A run's folder name, e.g. ``recall15_q_R_q100_m30_s0``; ``suffix`` goes before the seed.

    q appears for the q-norm variants only, m for the random-seed ones only.
    """
    q_part = f"_q{q:g}" if variant.startswith("q") else ""
    m_part = "" if variant.endswith("r0") else f"_m{n_seeds}"
    return f"{task}{size}_{variant}{q_part}{m_part}{suffix}_s{seed}"


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of q-norm training (validated on construction)."""

    variant: str = "q_R"  # E_r0 | q_r0 | E_R | q_R, see the module docstring
    q: float = 100.0  # exponent of the q-norm for q_* variants; E_* variants always use 1
    n_seeds: int = 30  # m: random policy seeds per step (R variants; r0 variants use 1)
    batch_size: int = 512  # n: fresh inputs per step
    steps: int = 10_000
    lr: float = 3e-3  # peak learning rate, reached after the warm-up
    lr_end: float = 3e-4  # learning rate at the last step (cosine decay from the peak)
    warmup: int = 2000  # steps of linear warm-up from 0
    weight_decay: float = 0.0  # decoupled (AdamW), on every parameter
    adam_eps: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.95)
    clip_norm: float = 1.0  # global gradient-norm clipping

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant={self.variant!r} is unknown; expected one of {VARIANTS}")
        if not (_is_real(self.q) and self.q >= 1):  # refuses NaN; q = inf is the min-max
            raise ValueError(f"q={self.q!r} is invalid; expected 1 <= q <= inf")
        for name in ("n_seeds", "batch_size", "steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is invalid; expected an int >= 1")
        for name in ("lr", "lr_end", "adam_eps", "clip_norm", "weight_decay"):
            value, zero_ok = getattr(self, name), name == "weight_decay"
            finite = _is_real(value) and math.isfinite(value)
            if not finite or value < 0 or (value == 0 and not zero_ok):
                bound = ">= 0" if zero_ok else "> 0"
                raise ValueError(f"{name}={value!r} is invalid; expected a finite number {bound}")
        if not 0 <= self.warmup or not self.lr_end <= self.lr:
            raise ValueError(
                f"warmup={self.warmup!r}, lr={self.lr!r}, lr_end={self.lr_end!r} are invalid; "
                "expected warmup >= 0 and 0 < lr_end <= lr"
            )
        betas = tuple(self.betas) if isinstance(self.betas, tuple | list) else ()
        if len(betas) != 2 or not all(_is_real(beta) and 0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas={self.betas!r} is invalid; expected two numbers in [0, 1)")

    @classmethod
    def for_task(cls, task: SupervisedTask, **overrides: Any) -> TrainConfig:
        """The training defaults of ``task`` with field overrides."""
        return cls(**{**task.train_defaults, **overrides})

    @property
    def fixed_seed(self) -> bool:
        """Whether the model sees one fixed seed r0 (the ``*_r0`` variants)."""
        return self.variant.endswith("r0")

    @property
    def effective_q(self) -> float:
        """The exponent actually used: 1 for the ERM (``E_*``) variants."""
        return 1.0 if self.variant.startswith("E") else self.q

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (for checkpoints and logs)."""
        return {**dataclasses.asdict(self), "betas": list(self.betas)}


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def lr_factor(step: int, config: TrainConfig) -> float:
    """The learning rate of step ``step`` (0-based) relative to the peak ``config.lr``."""
    if step < config.warmup:
        return (step + 1) / config.warmup
    decay_steps = max(config.steps - config.warmup - 1, 1)
    progress = min((step - config.warmup) / decay_steps, 1.0)
    floor = config.lr_end / config.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class Diverged(RuntimeError):
    """A training step produced a non-finite loss or gradient norm and was not applied.

    Attributes:
        step: The 1-based number of the refused step (``step_count + 1``, the log's step).
        quantity: ``"loss"`` or ``"gradient norm"``.
        value: The non-finite value.
    """

    def __init__(self, step: int, quantity: str, value: float) -> None:
        super().__init__(
            f"training diverged at step {step}: the {quantity} is {value}; the update was not "
            "applied, so the model keeps the parameters of the last good step"
        )
        self.step, self.quantity, self.value = step, quantity, value


STATE_PREFIX = "trainer."  # the names of a trainer's tensors in a checkpoint
MOMENTS = ("exp_avg", "exp_avg_sq")  # with "step", AdamW's state of a parameter (no amsgrad)


class Trainer:
    """q-norm training of ``model`` on ``task``.

    Args:
        task: Provides the data, logits, loss and success predicate.
        model: Trained in place.
        config: The hyperparameters and variant.
        generator: The trainer's torch RNG: r0 and the per-step policy seeds.
        rng: The data RNG, passed to the env generator's batch sampler (a PCG64 generator, as
            ``np.random.default_rng`` makes, for ``state_dict``).
        compile: Run the forward pass, the loss, the q-norm and the success check through
            ``torch.compile`` (faster steps on a CPU after a compilation of about a minute;
            same results up to float rounding).
    """

    def __init__(
        self,
        task: SupervisedTask,
        model: SeededTransformer,
        config: TrainConfig,
        generator: torch.Generator,
        rng: np.random.Generator,
        compile: bool = False,
    ) -> None:
        self.task, self.model, self.config = task, model, config
        self._forward = compiled(self._objective) if compile else self._objective
        self.generator, self.rng = generator, rng
        self.optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=config.lr,
            betas=config.betas,
            eps=config.adam_eps,
            weight_decay=config.weight_decay,
            fused=True,  # one kernel for all parameters: a few parameter tensors, tiny each
        )
        self.scheduler = self._schedule(steps_done=0)
        self.fixed_policy_seed = self._draw_seeds(1) if config.fixed_seed else None
        self.step_count = 0

    def _schedule(self, steps_done: int) -> torch.optim.lr_scheduler.LambdaLR:
        """The learning-rate schedule, positioned after ``steps_done`` steps."""
        return torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, self.config), last_epoch=steps_done - 1
        )

    def _draw_seeds(self, n: int) -> Tensor:
        return self.model.sample_policy_seed(n, self.generator, self.task.policy_seed_length)

    def policy_seeds(self) -> Tensor:
        """This step's seeds: r0 for the ``*_r0`` variants, else m fresh ones."""
        if self.fixed_policy_seed is not None:
            return self.fixed_policy_seed
        return self._draw_seeds(self.config.n_seeds)

    def _objective(self, batch: dict[str, Tensor], policy_seed: Tensor) -> tuple[Tensor, ...]:
        """The q-norm, the mean loss and the fraction of correct (input, seed) pairs.

        One function, so that ``torch.compile`` fuses the loss, the q-norm and the success
        check with the forward pass.
        """
        logits = self.task.logits(self.model, batch, policy_seed)
        losses = self.task.loss(logits, batch)  # (B, S)
        correct = self.task.correct(self.task.predict(logits.detach()), batch)  # (B, S)
        loss = q_norm(losses, self.config.effective_q)
        return loss, losses.detach().mean(), correct.float().mean()

    def step(self) -> dict[str, float]:
        """One optimiser step on a fresh batch.

        Returns:
            The step's q-norm ``loss``, mean per-(input, seed) ``loss_mean``, the fraction of
            correct (input, seed) pairs ``success``, the learning rate ``lr`` used and the
            gradient norm ``grad_norm`` before clipping.

        Raises:
            Diverged: If the loss or the gradient norm is NaN or infinite; the parameters, the
                optimiser, the schedule and ``step_count`` are then left as they were (the
                RNGs have advanced).
        """
        self.model.train()
        batch = self.task.sample(self.rng, self.config.batch_size)
        loss, loss_mean, success = self._forward(batch, self.policy_seeds())
        self._refuse_non_finite("loss", loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), self.config.clip_norm, foreach=True
        )
        self._refuse_non_finite("gradient norm", grad_norm)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.step_count += 1
        return {
            "loss": loss.item(),
            "loss_mean": loss_mean.item(),
            "success": success.item(),
            "lr": lr,
            "grad_norm": grad_norm.item(),
        }

    def _refuse_non_finite(self, quantity: str, value: Tensor) -> None:
        if not torch.isfinite(value):
            raise Diverged(self.step_count + 1, quantity, value.item())

    def state_dict(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Copies of the training state besides the model, as tensors and JSON-able metadata.

        The tensors, named ``trainer.*``, are the torch generator's state, r0 (``*_r0``
        variants) and AdamW's ``step``, ``exp_avg`` and ``exp_avg_sq`` of every parameter
        that has them; the metadata holds ``step_count`` (which also positions the schedule),
        the data RNG's PCG64 state and the names of those parameters. To checkpoint::

            tensors, state = trainer.state_dict()
            save_model(path, trainer.model, {..., "trainer": state}, extra=tensors)

        Raises:
            ValueError: If the data RNG is not a PCG64 generator.
        """
        tensors = {"generator": self.generator.get_state()}
        if self.fixed_policy_seed is not None:
            tensors["fixed_policy_seed"] = self.fixed_policy_seed.clone()
        names = []
        for name, param in self.model.named_parameters():
            if state := self.optimizer.state.get(param):
                assert set(state) == {"step", *MOMENTS}, f"unexpected AdamW state {sorted(state)}"
                names.append(name)
                tensors |= {f"adamw.{name}.{key}": value.clone() for key, value in state.items()}
        metadata = {
            "step_count": self.step_count,
            "data_rng": _valid_pcg64_state(self.rng.bit_generator.state),
            "adamw_params": names,
        }
        return {STATE_PREFIX + name: value for name, value in tensors.items()}, metadata

    def load_state_dict(self, tensors: dict[str, Tensor], metadata: dict[str, Any]) -> None:
        """Restore a ``state_dict`` of a trainer with the same task, model shape and variant.

        Only the ``trainer.*`` entries of ``tensors`` are read (so a checkpoint's other extra
        tensors may be passed along), and each of them must be expected. Everything is
        validated before anything changes, so a refused state leaves the trainer as it was::

            model, extra, metadata = load_model(path)
            trainer = Trainer(task, model, config, torch.Generator(), np.random.default_rng())
            trainer.load_state_dict(extra, metadata["trainer"])

        Raises:
            ValueError: Naming the first invalid field: missing or unexpected, of the wrong
                type, dtype or shape, non-finite, or out of range (e.g. a ``step_count``
                beyond ``config.steps``).
        """
        own = {name: value for name, value in tensors.items() if name.startswith(STATE_PREFIX)}
        _check_keys("trainer metadata", metadata, ("step_count", "data_rng", "adamw_params"))
        step_count = _check_int("step_count", metadata["step_count"], 0, self.config.steps)
        data_rng = _valid_pcg64_state(metadata["data_rng"])
        generator = _valid_generator_state(
            _take_tensor(own, "generator", self.generator.get_state())
        )
        r0 = self.fixed_policy_seed
        if r0 is not None:
            r0 = _take_tensor(own, "fixed_policy_seed", r0)
        adamw = self._valid_adamw_state(own, metadata["adamw_params"], step_count)
        if own:  # every expected tensor was taken out
            raise ValueError(f"trainer state has unexpected tensors {sorted(own)} for this trainer")
        self.generator.set_state(generator)
        self.rng.bit_generator.state = data_rng
        self.fixed_policy_seed = r0
        self.optimizer.state.clear()
        self.optimizer.state.update(adamw)
        self.scheduler = self._schedule(steps_done=step_count)
        self.step_count = step_count

    def _valid_adamw_state(
        self, own: dict[str, Tensor], names: Any, step_count: int
    ) -> dict[Tensor, dict[str, Tensor]]:
        """The AdamW state of the parameters ``names`` in ``own``, validated and copied."""
        params = dict(self.model.named_parameters())
        if (
            not isinstance(names, list)
            or not all(isinstance(name, str) and name in params for name in names)
            or len(set(names)) != len(names)
        ):
            raise ValueError(
                f"trainer state adamw_params={names!r} is invalid; expected a list of distinct "
                f"parameter names of the model, among {sorted(params)}"
            )
        state = {}
        for name in names:
            step = _take_tensor(own, f"adamw.{name}.step", torch.zeros(()))
            if not (step == step.round() and 1 <= step <= step_count):
                raise ValueError(
                    f"trainer state tensor '{STATE_PREFIX}adamw.{name}.step' is {step.item()}; "
                    f"expected a whole number in [1, step_count={step_count}]"
                )
            moments = {k: _take_tensor(own, f"adamw.{name}.{k}", params[name]) for k in MOMENTS}
            state[params[name]] = moments | {"step": step}
        return state


def _take_tensor(own: dict[str, Tensor], name: str, like: Tensor) -> Tensor:
    """A copy of ``trainer.<name>``, popped from ``own``: finite, of the dtype/shape of ``like``."""
    field = f"'{STATE_PREFIX}{name}'"
    if STATE_PREFIX + name not in own:
        raise ValueError(f"trainer state tensor {field} is missing")
    value = own.pop(STATE_PREFIX + name)
    if not isinstance(value, Tensor) or value.dtype != like.dtype or value.shape != like.shape:
        got = f"{value.dtype} {tuple(value.shape)}" if isinstance(value, Tensor) else type(value)
        raise ValueError(
            f"trainer state tensor {field} is {got}; expected {like.dtype} {tuple(like.shape)}"
        )
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise ValueError(f"trainer state tensor {field} has non-finite entries")
    return value.clone()


def _valid_generator_state(state: Tensor) -> Tensor:
    """``state`` if a torch CPU generator accepts it."""
    try:
        torch.Generator().set_state(state)
    except RuntimeError as error:
        raise ValueError(
            f"trainer state tensor '{STATE_PREFIX}generator' is invalid: {error}"
        ) from error
    return state


def _valid_pcg64_state(state: Any) -> dict[str, Any]:
    """``state`` if it is a numpy PCG64 ``bit_generator.state`` dict (JSON-able)."""
    _check_keys("data_rng", state, ("bit_generator", "state", "has_uint32", "uinteger"))
    if state["bit_generator"] != "PCG64":
        raise ValueError(
            f"trainer state data_rng.bit_generator={state['bit_generator']!r} is unsupported; "
            "expected 'PCG64' (the bit generator of np.random.default_rng)"
        )
    _check_keys("data_rng.state", state["state"], ("state", "inc"))
    _check_int("data_rng.state.state", state["state"]["state"], 0, 2**128 - 1)
    if _check_int("data_rng.state.inc", state["state"]["inc"], 1, 2**128 - 1) % 2 == 0:
        raise ValueError(f"trainer state data_rng.state.inc={state['state']['inc']} is even")
    _check_int("data_rng.has_uint32", state["has_uint32"], 0, 1)
    _check_int("data_rng.uinteger", state["uinteger"], 0, 2**32 - 1)
    return state


def _check_keys(field: str, value: Any, keys: tuple[str, ...]) -> None:
    """Refuse ``value`` unless it is a dict with exactly the keys ``keys``."""
    if not isinstance(value, dict):
        raise ValueError(f"trainer state {field} is a {type(value).__name__}; expected a dict")
    missing, unexpected = sorted(set(keys) - set(value)), sorted(set(value) - set(keys))
    if missing or unexpected:
        raise ValueError(
            f"trainer state {field} has missing keys {missing} and unexpected keys "
            f"{unexpected}; expected exactly {list(keys)}"
        )


def _check_int(field: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is an int in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"trainer state {field}={value!r} is invalid; expected an int in [{low}, {high}]"
        )
    return value
