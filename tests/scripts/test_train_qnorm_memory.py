"""scripts/train_qnorm.py with a MemoryProcessor and the idea loss, then scripts/evaluate.py."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import torch

from agents.models.memory import MemoryConfig, MemoryProcessor
from agents.runs.checkpoint import load_model
from agents.tasks import make_task

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def script(name: str) -> dict:
    """The globals of a script, without running it."""
    return runpy.run_path(str(SCRIPTS / f"{name}.py"))


def test_a_memory_run_with_the_idea_loss_checkpoints_and_evaluates(tmp_path):
    train = script("train_qnorm")
    args = train["Args"](
        task="coloring", n=5, variant="q_R", m=3, batch_size=8, steps=6, warmup=2,
        model={"width": 8, "layer_norm": True}, memory_rounds=3, idea_dim=4,
        idea_loss_weight=0.5, idea_inputs=6, checkpoint_every=3, progress=False,
        out=str(tmp_path / "run"),
    )  # fmt: skip
    train["main"](args)

    model, _, metadata = load_model(tmp_path / "run" / "model.pt")
    assert isinstance(model, MemoryProcessor) and model.config.memory_rounds == 3
    assert metadata["idea_loss"] == {"weight": 0.5, "temperature": 0.1, "inputs": 6}
    checkpoint, _, _ = load_model(tmp_path / "run" / "checkpoint.pt", model.config)
    for name, value in model.state_dict().items():
        assert torch.equal(checkpoint.state_dict()[name], value), name

    evaluate = script("evaluate")
    out = tmp_path / "eval"
    evaluate["main"](evaluate["Args"](str(tmp_path / "run" / "model.pt"), seeds=3, majority=[3],
                                      out=str(out)))  # fmt: skip
    assert json.loads((out / "eval.json").read_text())["model"]["memory_rounds"] == 3


def test_the_idea_loss_needs_memory_rounds_or_a_memory_preset():
    train = script("train_qnorm")
    args, model_config, task = train["Args"], train["model_config"], make_task("coloring")
    for flags in ({"idea_loss_weight": 0.5}, {"read_memory": False}):
        with pytest.raises(ValueError, match="--memory-rounds"):
            model_config(args(**flags), task)
    config = model_config(args(memory_rounds=2, idea_loss_weight=0.5), task)
    assert isinstance(config, MemoryConfig) and config.memory_rounds == 2
    config = model_config(args(preset="memory", read_memory=False, idea_dim=3), task)
    assert (config.memory_rounds, config.read_memory, config.idea_dim) == (4, False, 3)
