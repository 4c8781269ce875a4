"""Checkpoints: round trips, validation of tensors and metadata, atomic writes."""

from __future__ import annotations

import dataclasses
import errno
import json
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from agents.models.transformer import SeededTransformer, TransformerConfig
from agents.runs.checkpoint import (
    FORMAT,
    check_env_id,
    check_field,
    load_checkpoint,
    load_model,
    save_checkpoint,
    save_model,
)

REPO = Path(__file__).resolve().parents[3]
META = {"task": {"name": "recall", "n_pairs": 4, "value_bits": 5}, "step": 12}
CONFIG = TransformerConfig(input_dim=7, output_dim=5, width=8, key_size=4, seed_dim=6, max_len=9)


@pytest.fixture
def saved(tmp_path):
    model = SeededTransformer(CONFIG, torch.Generator().manual_seed(0))
    fixed = model.sample_policy_seed(1, torch.Generator().manual_seed(1))
    path = tmp_path / "run" / "model.pt"
    save_model(path, model, META, {"fixed_policy_seed": fixed})
    return path, model, fixed


def write_raw(path, tensors, metadata):
    """A checkpoint written without save_checkpoint's checks (as a foreign tool could)."""
    payload = {"format": FORMAT, "metadata": json.dumps(metadata), "tensors": tensors}
    torch.save(payload, path)


def test_model_round_trip_restores_outputs_extras_and_metadata(saved):
    path, model, fixed = saved
    loaded, extra, metadata = load_model(path, model.config, expect={"task": META["task"]})
    assert loaded.config == model.config
    assert torch.equal(extra["fixed_policy_seed"], fixed)
    assert metadata["step"] == 12 and metadata["model"]["seed_dim"] == 6
    x = torch.randn(3, 9, 7, generator=torch.Generator().manual_seed(2))
    seeds = model.sample_policy_seed(3, torch.Generator().manual_seed(2))
    assert torch.equal(loaded(x, seeds), model(x, seeds))
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left


def test_a_mismatched_model_config_is_refused_naming_the_difference(saved):
    path, model, _ = saved
    other = dataclasses.replace(model.config, seed_dim=10)
    with pytest.raises(ValueError, match="does not match") as error:
        load_model(path, other)
    assert "'seed_dim': 6" in str(error.value) and "'seed_dim': 10" in str(error.value)


def test_a_mismatched_task_is_refused(saved):
    path, *_ = saved
    with pytest.raises(ValueError, match=r"task: checkpoint has .*'n_pairs': 4.*expected"):
        load_checkpoint(path, {"task": {"name": "recall", "n_pairs": 15, "value_bits": 5}})


def test_corrupt_truncated_and_foreign_files_are_refused(saved, tmp_path):
    path, *_ = saved
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    for bad in (truncated, garbage, tmp_path / "missing.pt"):
        with pytest.raises(ValueError, match="cannot be read"):
            load_model(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="is not a randgym-checkpoint-1 checkpoint"):
        load_checkpoint(foreign)


class Payload:
    """A pickled object: weights_only loading must not execute or accept it."""


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    with open(path, "wb") as file:
        pickle.dump({"format": "randgym-checkpoint-1", "tensors": Payload()}, file, protocol=2)
    with pytest.raises(ValueError, match="cannot be read"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (torch.tensor([1.0, float("nan")]), "tensor 'w' has NaN"),
        (torch.tensor([float("-inf")], dtype=torch.float64), "tensor 'w' has an infinite value"),
        (torch.zeros(2, dtype=torch.complex64), "tensor 'w' has dtype torch.complex64"),
        (torch.eye(2).to_sparse(), "tensor 'w' is a Tensor torch.sparse_coo"),
    ],
)
def test_loading_refuses_non_finite_and_non_plain_tensors(tmp_path, tensor, message):
    path = tmp_path / "bad.pt"
    write_raw(path, {"w": tensor, "ok": torch.zeros(1)}, {})
    with pytest.raises(ValueError, match=re.escape(f"checkpoint '{path}': ") + message):
        load_checkpoint(path)


def test_saving_refuses_non_finite_tensors_and_models(saved, tmp_path):
    path, model, _ = saved
    with pytest.raises(ValueError, match="not saving .*: tensor 'x' has an infinite value"):
        save_checkpoint(tmp_path / "a.pt", {"x": torch.tensor([float("inf")])}, {})
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="tensor 'model.head.weight' has NaN"):
        save_model(path, model, META)
    assert load_model(path)[0].config == CONFIG  # the previous checkpoint is untouched
    assert not (tmp_path / "a.pt").exists()


def test_integer_and_bool_tensors_round_trip(tmp_path):
    tensors = {"state": torch.arange(5, dtype=torch.uint8), "done": torch.tensor([True, False])}
    save_checkpoint(tmp_path / "c.pt", tensors, {})
    loaded, _ = load_checkpoint(tmp_path / "c.pt")
    assert all(torch.equal(loaded[k], v) and loaded[k].dtype == v.dtype for k, v in tensors.items())


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("not a dict", r"field 'model' is 'not a dict'; expected dict"),
        ({**dataclasses.asdict(CONFIG), "width": "8"}, r"field 'model.width' is '8'; expected int"),
        ({**dataclasses.asdict(CONFIG), "mlp": 1}, r"field 'model.mlp' is 1; expected bool"),
        ({"output_dim": 5}, r"field 'model.input_dim' is missing; expected int"),
        ({**dataclasses.asdict(CONFIG), "depth": 3}, r"'model' has unknown entries \['depth'\]"),
        ({**dataclasses.asdict(CONFIG), "width": 0}, r"no valid model config: width=0"),
    ],
)
def test_a_bad_model_config_is_refused_naming_the_field_and_file(saved, tmp_path, model, message):
    path, *_ = saved
    tensors, metadata = load_checkpoint(path)
    broken = tmp_path / "broken.pt"
    save_checkpoint(broken, tensors, {**metadata, "model": model})
    with pytest.raises(ValueError, match=re.escape(f"checkpoint '{broken}'") + ".*" + message):
        load_model(broken)


def test_a_model_config_without_newer_optional_fields_loads(saved, tmp_path):
    path, *_ = saved
    tensors, metadata = load_checkpoint(path)
    del metadata["model"]["embed_mlp"]
    save_checkpoint(tmp_path / "old.pt", tensors, metadata)
    assert load_model(tmp_path / "old.pt")[0].config == CONFIG


def test_tensors_that_do_not_fit_the_config_are_refused(saved, tmp_path):
    path, *_ = saved
    tensors, metadata = load_checkpoint(path)
    tensors["model.head.weight"] = torch.zeros(3, 3)
    broken = tmp_path / "broken.pt"
    save_checkpoint(broken, tensors, metadata)
    with pytest.raises(ValueError, match="does not fit its model config"):
        load_model(broken)


def test_check_field_returns_valid_values_and_names_bad_ones():
    metadata = {"generation": 3, "q": 2, "algorithm": "pepg", "run": {"seed": True}}
    assert check_field(metadata, "generation", int, minimum=0) == 3
    assert check_field(metadata, "q", float, minimum=1) == 2
    assert check_field(metadata, "algorithm", str, choices=("pepg", "cma")) == "pepg"
    assert check_field(metadata, "run.seed", bool) is True
    bad = [
        ("generation", int, {"minimum": 4}, r"'generation' is 3; expected int >= 4"),
        ("algorithm", str, {"choices": ["cma"]}, r"'algorithm' is 'pepg'; expected str in"),
        ("run.seed", int, {}, r"'run.seed' is True; expected int"),
        ("run.seed.x", int, {}, r"'run.seed.x' is missing"),
        ("absent", (int, float), {}, r"'absent' is missing; expected int or float"),
    ]
    for name, kind, options, message in bad:
        with pytest.raises(ValueError, match=f"checkpoint 'c.pt': field {message}"):
            check_field(metadata, name, kind, path="c.pt", **options)
    with pytest.raises(ValueError, match="'q' is nan; expected float"):
        check_field({"q": float("nan")}, "q", float)


def test_only_env_ids_of_this_package_are_accepted():
    assert check_env_id("RandAlg/GridExplore-v0") == "RandAlg/GridExplore-v0"
    assert check_env_id("RandAlg/Recall") == "RandAlg/Recall"
    for bad in ("somemodule:Env-v0", "gym_foo/X-v0", "os:RandAlg/GridExplore-v0", "CartPole-v1"):
        with pytest.raises(ValueError, match=f"env id '{bad}' is refused"):
            check_env_id(bad)
    with pytest.raises(ValueError, match="env id None is refused"):
        check_env_id(None)


def test_saving_rejects_non_tensors_and_non_json_metadata(tmp_path):
    with pytest.raises(ValueError, match="tensors"):
        save_checkpoint(tmp_path / "a.pt", {"x": [1, 2]}, {})
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "b.pt", {"x": torch.zeros(1)}, {"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_saving_replaces_an_existing_checkpoint_atomically(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"x": torch.zeros(2)}, {"version": 1})
    save_checkpoint(path, {"x": torch.ones(2)}, {"version": 2})
    tensors, metadata = load_checkpoint(path)
    assert torch.equal(tensors["x"], torch.ones(2)) and metadata == {"version": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def failing_save(exception):
    """A torch.save that writes half a file, then raises ``exception``."""

    def save(obj, file):
        file.write(b"half a checkpoint")
        raise exception

    return save


def test_a_full_disk_is_reported_naming_the_file_and_leaves_no_temporary_file(
    tmp_path, monkeypatch
):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"x": torch.zeros(2)}, {"version": 1})
    monkeypatch.setattr(torch, "save", failing_save(OSError(errno.ENOSPC, "No space left")))
    with pytest.raises(
        OSError, match=re.escape(f"the disk is full: cannot write '{path}'")
    ) as error:
        save_checkpoint(path, {"x": torch.ones(2)}, {"version": 2})
    assert error.value.errno == errno.ENOSPC
    monkeypatch.setattr(torch, "save", failing_save(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"x": torch.ones(2)}, {"version": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    assert load_checkpoint(path)[1] == {"version": 1}


def test_a_writer_killed_mid_write_leaves_a_temporary_file_the_next_save_removes(tmp_path):
    path = tmp_path / "c.pt"
    killed = textwrap.dedent(f"""
        import os, signal, torch
        from agents.runs.checkpoint import save_checkpoint

        def save(obj, file):
            file.write(b"half a checkpoint")
            file.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        torch.save = save
        save_checkpoint({str(path)!r}, {{"x": torch.zeros(2)}}, {{}})
    """)
    result = subprocess.run(
        [sys.executable, "-c", killed], cwd=REPO, capture_output=True, check=False
    )
    assert result.returncode == -9, result.stderr.decode()
    (stale,) = tmp_path.iterdir()
    assert stale.name.startswith(".c.pt.") and stale.name.endswith(".tmp")
    (tmp_path / ".other.pt.abc.tmp").write_bytes(b"another checkpoint's")
    save_checkpoint(path, {"x": torch.ones(2)}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.abc.tmp", "c.pt"]
