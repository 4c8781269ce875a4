"""An ES checkpoint is validated field by field before a run is rebuilt from it."""

from __future__ import annotations

import json

import pytest
import torch

from agents.evolution.run import Evolution, EvolveConfig

TINY = EvolveConfig(
    model_preset="small", model={"width": 8, "n_heads": 1, "key_size": 4, "seed_dim": 4},
    es={"popsize": 4}, m=2, generations=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    run = Evolution(TINY)
    run.step()
    path = tmp_path_factory.mktemp("run") / "checkpoint.pt"
    run.save(path, 1)
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(generation=-1), "field 'generation' is -1; expected int >= 0"),
        (lambda m: m.update(generation="1"), "field 'generation' is '1'"),
        (lambda m: m.pop("scalars"), "field 'scalars' is missing"),
        (lambda m: m["config"].update(q="often"), "q='often' is invalid"),
        (lambda m: m["config"].update(m=0), "m=0 is invalid"),
        (lambda m: m["config"].update(seed=-3), "seed=-3 is invalid"),
        (lambda m: m["config"].update(model=[1]), "model=[1] is invalid; expected a dict"),
        (lambda m: m["config"].update(env_id="gym_foo/Bar-v0"), "env id 'gym_foo/Bar-v0'"),
        (lambda m: m["config"].update(surprise=1), "surprise"),
    ],
)
def test_a_damaged_field_is_refused_by_name(saved, tmp_path, change, message):
    metadata = json.loads(saved["metadata"])
    change(metadata)
    path = tmp_path / "checkpoint.pt"
    torch.save({**saved, "metadata": json.dumps(metadata)}, path)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Evolution.load(path)


def test_an_intact_checkpoint_loads(saved, tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save(saved, path)
    run, generation = Evolution.load(path)
    assert generation == 1 and run.es.generation == 1
