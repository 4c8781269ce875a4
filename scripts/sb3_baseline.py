"""Train a stable-baselines3 agent on a randgym env, save it, and score it like our own agents.

    python scripts/sb3_baseline.py --algo ppo --env RandAlg/GridExplore-v0 --timesteps 100000
    python scripts/sb3_baseline.py --algo ppo --adversary tracking --seed-obs true
    python scripts/sb3_baseline.py --algo dqn --features transformer       # our transformer
    python scripts/sb3_baseline.py --algo recurrent_ppo --env RandAlg/AssociativeRecall-v1
    python scripts/sb3_baseline.py --algo a2c --vec-env native --n-envs 64  # native vector env

The agent trains on --n-envs sub-envs (DummyVecEnv, SubprocVecEnv, or the native vector env).
With --adversary, one adversary in this process picks the instance of every episode of every
sub-env (uniform, or tracking: the q-norm weights of the agent's estimated losses, logged
under adversary/). With --seed-obs, the observation holds a per-episode policy seed, so the
policy can be a randomized algorithm in the paper's sense. --features transformer runs our
seeded transformer (a task model preset) over the episode's tokens so far. The run folder
gets run.json, progress.csv (SB3's logger), TensorBoard events (when installed), model.zip
(SB3's format: PPO.load etc.) and evaluation.json: the agent over every instance (or
--eval-instances of them) x --eval-seeds policy seeds, next to the task's classical
algorithms, as scripts/evolve.py writes it.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecMonitor
from tqdm import tqdm

from agents.metrics import format_table
from agents.runs.cli import flag, parse
from agents.runs.folder import RunFolder, default_run_dir
from agents.sb3 import make_adversarial_vec_env
from agents.sb3.callbacks import AdversaryLogger
from agents.sb3.env_recipe import EnvRecipe
from agents.sb3.evaluation import evaluation_instances, evaluation_rows
from agents.sb3.features import FlatFeatures, transformer_policy_kwargs
from agents.sb3.recurrent import RecurrentPPO
from agents.sb3.vec_adapter import NativeVecEnv
from agents.tasks import task_for_env
from randgym.wrappers import Adversary, TrackingAdversary, UniformAdversary

SCRIPT = "sb3_baseline"
ALGORITHMS: dict[str, tuple[type[BaseAlgorithm], str]] = {
    "ppo": (PPO, "MultiInputPolicy"),
    "a2c": (A2C, "MultiInputPolicy"),
    "dqn": (DQN, "MultiInputPolicy"),
    "recurrent_ppo": (RecurrentPPO, "MultiInputLstmPolicy"),
}
VEC_ENVS = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}
ADVERSARIES = ("none", "uniform", "tracking")


@dataclass
class Args:
    """Command-line flags."""

    algo: str = flag("ppo", "the SB3 algorithm", choices=sorted(ALGORITHMS))
    env: str = flag("RandAlg/GridExplore-v0", "the env: a registered RandAlg/ id")
    env_kwargs: dict = flag({}, "JSON env kwargs, e.g. '{\"size\": 6}'")
    timesteps: int = flag(100_000, "env steps of training", minimum=1, maximum=10**9)
    adversary: str = flag("none", "who picks the instances", choices=ADVERSARIES)
    q: float = flag(8.0, "the tracking adversary's norm exponent", minimum=1, allow_inf=True)
    seed_obs: bool = flag(False, "a per-episode policy seed in the observation")
    seed_bits: int = flag(16, "bits of the observed policy seed", minimum=1, maximum=62)
    features: str = flag("flat", "the features extractor", choices=["flat", "transformer"])
    model_preset: str | None = flag(None, "the task's model preset for --features transformer")
    algo_kwargs: dict = flag({}, "JSON arguments of the algorithm, e.g. '{\"n_steps\": 64}'")
    n_envs: int = flag(8, "parallel sub-envs", minimum=1, maximum=4096)
    vec_env: str = flag("dummy", "how sub-envs run", choices=["dummy", "subproc", "native"])
    seed: int = flag(0, "seed of the agent, the envs and the adversary", minimum=0,
                     maximum=2**32 - 1)  # fmt: skip
    eval_seeds: int = flag(32, "policy seeds per evaluation instance", minimum=1, maximum=10_000)
    eval_instances: int = flag(1024, "all instances up to this many, else a fixed sample",
                               minimum=1, maximum=10**6)  # fmt: skip
    baselines: bool = flag(True, "evaluate the task's classical algorithms too")
    threads: int | None = flag(None, "torch CPU threads (default: torch's choice)", minimum=1)
    progress: bool = flag(True, "show a progress bar")
    out: str | None = flag(None, "run folder (default: a fresh folder under runs/)")
    overwrite: bool = flag(False, "replace the run already in --out")

    def __post_init__(self) -> None:
        self.recipe = EnvRecipe(
            self.env,
            self.env_kwargs,
            token_history=self.features == "transformer",
            seed_bits=self.seed_bits if self.seed_obs else None,
        )
        action_space = gym.make(self.env, **self.env_kwargs).action_space
        if self.algo == "dqn" and not isinstance(action_space, gym.spaces.Discrete):
            raise ValueError(
                f"--algo dqn needs a Discrete action space; {self.env} acts in {action_space}"
            )
        wrapped = self.adversary != "none" or self.seed_obs or self.features != "flat"
        if self.vec_env == "native" and wrapped:
            raise ValueError(
                "--vec-env native steps the bare env: it takes no --adversary, --seed-obs or "
                "--features transformer; use --vec-env dummy or subproc"
            )
        task_class = task_for_env(self.env)
        if self.model_preset is not None and self.model_preset not in task_class.presets:
            raise ValueError(
                f"--model-preset {self.model_preset!r}: {task_class.name} has the presets "
                f"{sorted(task_class.presets)}"
            )
        algorithm = ALGORITHMS[self.algo][0]
        accepted = set(inspect.signature(algorithm.__init__).parameters) - {"self", "env"}
        if unknown := sorted(set(self.algo_kwargs) - accepted):
            raise ValueError(
                f"--algo-kwargs {unknown} are not arguments of {algorithm.__name__}; "
                f"expected some of {sorted(accepted)}"
            )

    def config(self) -> dict[str, Any]:
        """The run's JSON config (the env recipe included, to make the env again)."""
        flags = {name: value for name, value in vars(self).items() if name != "recipe"}
        return {**flags, "recipe": self.recipe.to_json()}


class ProgressBar(BaseCallback):
    """A tqdm bar over the training's env steps."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def _on_training_start(self) -> None:
        self.bar = tqdm(total=self.total, unit="step")

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


def make_adversary(args: Args) -> Adversary | None:
    """The adversary of ``--adversary`` (seeded with ``--seed``), or None."""
    if args.adversary == "uniform":
        return UniformAdversary(seed=args.seed)
    if args.adversary == "tracking":
        return TrackingAdversary(q=args.q, seed=args.seed)
    return None


def make_training_env(args: Args, adversary: Adversary | None) -> VecEnv:
    """The vectorized training env of the flags, with episode statistics."""
    if args.vec_env == "native":
        venv = VecMonitor(NativeVecEnv.make(args.env, args.n_envs, **args.env_kwargs))
        venv.seed(args.seed)
        return venv
    vec_env_cls = VEC_ENVS[args.vec_env]
    if adversary is not None:
        return make_adversarial_vec_env(
            args.recipe, adversary, args.n_envs, seed=args.seed, vec_env_cls=vec_env_cls
        )
    return make_vec_env(args.recipe, args.n_envs, seed=args.seed, vec_env_cls=vec_env_cls)


def build_model(args: Args, venv: VecEnv, out: Path) -> BaseAlgorithm:
    """The algorithm on ``venv``, logging to ``out`` (CSV, and TensorBoard when installed)."""
    algorithm, policy = ALGORITHMS[args.algo]
    kwargs = dict(args.algo_kwargs)
    if args.features == "transformer":
        task = task_for_env(args.env)(**args.env_kwargs)
        features = transformer_policy_kwargs(task, args.recipe(), args.model_preset, seed=args.seed)
    else:
        features = {"features_extractor_class": FlatFeatures}
    kwargs["policy_kwargs"] = {**features, **kwargs.get("policy_kwargs", {})}
    model = algorithm(policy, venv, seed=args.seed, **kwargs)
    formats = ["csv"] + (["tensorboard"] if importlib.util.find_spec("tensorboard") else [])
    model.set_logger(configure(str(out), formats))
    return model


def main(args: Args) -> None:
    """Train, save, evaluate, report."""
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else default_run_dir(SCRIPT)
    with RunFolder.create(out, SCRIPT, args.config(), overwrite=args.overwrite) as folder:
        adversary = make_adversary(args)
        venv = make_training_env(args, adversary)
        model = build_model(args, venv, folder.path)
        print(
            f"{args.algo} on {args.env} ({args.n_envs} {args.vec_env} sub-envs, adversary "
            f"{args.adversary}, seed in the observation: {args.seed_obs}, features "
            f"{args.features}): {args.timesteps:,} steps"
        )
        callbacks: list[BaseCallback] = [ProgressBar(args.timesteps)] if args.progress else []
        if isinstance(adversary, TrackingAdversary):
            callbacks.append(AdversaryLogger(adversary))
        model.learn(args.timesteps, callback=callbacks)
        if model.logger.name_to_value:  # records since the last log interval (A2C: 100 rollouts)
            model.logger.dump(model.num_timesteps)
        venv.close()
        model.save(folder.path / "model.zip")
        evaluate(args, model, folder.path)


def evaluate(args: Args, model: BaseAlgorithm, out: Path) -> None:
    """Scores the model and the task's algorithms; prints the table, writes evaluation.json."""
    task = task_for_env(args.env)(**args.env_kwargs)
    instances, complete = evaluation_instances(task.generator, args.eval_instances)
    rows = evaluation_rows(
        model, args.recipe, task, args.algo, instances, args.eval_seeds, complete, args.baselines
    )
    which = "all" if complete else "a fixed sample of"
    title = f"\nReturns over {which} {len(instances)} {task.name} instances (higher is better):"
    print(format_table(rows, title, label="agent", digits=2))
    (out / "evaluation.json").write_text(json.dumps(rows, indent=2))
    print(f"Saved {out / 'model.zip'}, {out / 'evaluation.json'}, progress.csv")


if __name__ == "__main__":
    try:
        main(parse(Args, __doc__))
    except (ValueError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
