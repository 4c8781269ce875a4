"""scripts/report.py on a folder of tiny real runs of evolve, train_qnorm and sb3_baseline."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agents.reports.replicates import group_replicates
from agents.reports.runs import read_run

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
ES_MODEL = json.dumps(
    {"width": 8, "n_heads": 1, "key_size": 4, "seed_dim": 4, "mlp": False, "seed_pool": 2}
)
ES = ["--model", ES_MODEL, "--popsize", "4", "--m", "2", "--generations", "2"]
ES += ["--eval-seeds", "4", "--threads", "1", "--progress", "false"]
QNORM = "--task recall --n 4 --m 3 --batch-size 8 --warmup 5 --steps 10 --log-every 5".split()
QNORM += ["--model", json.dumps({"width": 8}), "--progress", "false"]
PPO = {"n_steps": 64, "batch_size": 64, "n_epochs": 1}  # two rollouts: a learning curve
SB3 = ["--algo", "ppo", "--timesteps", "256", "--algo-kwargs", json.dumps(PPO), "--n-envs", "2"]
SB3 += ["--eval-seeds", "2", "--eval-instances", "12", "--progress", "false", "--threads", "1"]
SB3_SEEDED = ["--seed-obs", "true", "--seed-bits", "4", "--adversary", "tracking"]
QUICK = ["--baseline-instances", "64", "--baseline-seeds", "4"]
ES_SEEDS = (0, 1, 2)

SPEC = importlib.util.spec_from_file_location("report_cli", SCRIPTS / "report.py")
report_script = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = report_script  # dataclasses look their module up
SPEC.loader.exec_module(report_script)


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPTS / f"{name}.py"), *args]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    return done


def made(name: str, *args: str) -> None:
    done = script(name, *args)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Three ES seeds of one config, one q-norm run (evaluated), two SB3 runs, a corrupt run."""
    root = tmp_path_factory.mktemp("runs")
    for seed in ES_SEEDS:
        made("evolve", *ES, "--seed", str(seed), "--out", str(root / f"es_s{seed}"))
    made("train_qnorm", *QNORM, "--out", str(root / "qnorm_s0"))
    made("evaluate", str(root / "qnorm_s0" / "model.pt"), "--seeds", "5", "--majority", "3", "5",
         "--out", str(root / "qnorm_s0"))  # fmt: skip
    made("sb3_baseline", *SB3, "--out", str(root / "sb3_s0"))
    made("sb3_baseline", *SB3, *SB3_SEEDED, "--out", str(root / "sb3_seeded_s0"))
    (root / "broken").mkdir()
    (root / "broken" / "run.json").write_text("{not json")
    return root


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("reports")
    done = script("report", str(runs), "--out", str(out), *QUICK)
    assert done.returncode == 0, done.stderr
    return out, done


def table_row(page: str, *first_cells: str) -> list[str]:
    """The cells of the one Markdown row that starts with these cells."""
    prefix = "| " + " | ".join(first_cells) + " |"
    rows = [line for line in page.splitlines() if line.startswith(prefix)]
    assert len(rows) == 1, (prefix, rows)
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_each_run_row_is_its_evaluation_file(runs, report):
    out, _ = report
    page = (out / "grid5.md").read_text()
    for seed in ES_SEEDS:
        rows = json.loads((runs / f"es_s{seed}" / "evaluation.json").read_text())
        agents = [name for name in rows if name.startswith("trained")]
        assert len(agents) == 3  # random seeds, the best fixed seed, their LP mixture
        for name in agents:
            cells = table_row(page, f"es_s{seed}", "evolve", str(seed), name)
            assert cells[4:] == [f"{rows[name][key]:.4f}" for key in ("average", "p95", "worst")]
    sb3_rows = json.loads((runs / "sb3_s0" / "evaluation.json").read_text())
    cells = table_row(page, "sb3_s0", "sb3_baseline", "0", "ppo, argmax (deterministic)")
    assert cells[4] == f"{sb3_rows['ppo, argmax (deterministic)']['average']:.4f}"
    assert "serpentine sweep (deterministic)" in page and "game value" in page
    assert "| sb3_s0 | sb3_baseline | 0 | serpentine" not in page  # baselines are no agent rows

    recall = (out / "recall4.md").read_text()
    summary = json.loads((runs / "qnorm_s0" / "eval.json").read_text())["summary"]
    cells = table_row(recall, "qnorm_s0", "train_qnorm", "0", "majority_5")
    assert cells[4:] == [f"{summary['majority_5'][key]:.4f}" for key in ("average", "p95", "worst")]
    assert "store random" in recall  # the recall task's classical algorithms


def test_replicates_have_intervals_and_few_seeds_say_so(runs, report):
    out, _ = report
    page = (out / "grid5.md").read_text()
    name = "trained, random seeds (m=2)"
    cells = table_row(page, "evolve", name)
    averages = [
        json.loads((runs / f"es_s{seed}" / "evaluation.json").read_text())[name]["average"]
        for seed in ES_SEEDS
    ]
    assert cells[2] == "3" and cells[-1] == ""
    mean, interval = cells[3].split(" [")
    low, high = (float(value) for value in interval.rstrip("]").split(", "))
    assert mean == f"{np.mean(averages):.4f}"
    assert min(averages) - 1e-4 <= low <= high <= max(averages) + 1e-4
    plain = "sb3_baseline algo=ppo seed_obs=false adversary=none"
    single = table_row(page, plain, "ppo, argmax (deterministic)")
    assert single[2] == "1" and single[-1] == "fewer than 3 seeds" and "[" not in single[3]


def test_sb3_configurations_are_named_by_algorithm_seed_input_and_adversary(runs, report):
    out, _ = report
    page = (out / "grid5.md").read_text()
    seeded = "sb3_baseline algo=ppo seed_obs=true adversary=tracking"
    rows = json.loads((runs / "sb3_seeded_s0" / "evaluation.json").read_text())
    for name in ("ppo, argmax, random seeds (m=2)", "ppo, argmax, best fixed seed (deterministic)"):
        assert table_row(page, seeded, name)[3] == f"{rows[name]['average']:.4f}"
    assert "algo_kwargs" not in page and "recipe.seed_bits" not in page


def test_sb3_configurations_alike_in_brief_keep_the_generic_label(runs):
    sb3 = [read_run(runs / "sb3_s0"), read_run(runs / "sb3_seeded_s0")]
    longer = replace(sb3[0], config={**sb3[0].config, "timesteps": 512})
    runs = [*sb3, longer]
    generic = group_replicates(runs, [list(run.rows) for run in runs])
    groups = report_script.readable_labels(generic)
    assert groups[1].label == "sb3_baseline algo=ppo seed_obs=true adversary=tracking"
    assert [groups[0].label, groups[2].label] == [generic[0].label, generic[2].label]
    assert "timesteps=256" in groups[0].label and "timesteps=512" in groups[2].label


def test_figures_are_written_and_linked(report):
    out, _ = report
    for name in ("worst_case.png", "curves.png", "heatmap_es_s0.png", "heatmap_es_s2.png"):
        assert (out / "grid5" / name).stat().st_size > 1000, name
        assert f"(grid5/{name})" in (out / "grid5.md").read_text()
    assert (out / "recall4" / "histogram_qnorm_s0.png").exists()


def test_learning_curves_come_from_each_script_log(runs):
    curves = {name: read_run(runs / name).curve for name in ("es_s0", "qnorm_s0", "sb3_s0")}
    assert curves["es_s0"].x == (1.0, 2.0) and curves["es_s0"].y_label == "return_mean"
    assert curves["qnorm_s0"].x == (5.0, 10.0) and curves["qnorm_s0"].y_label == "success"
    assert curves["sb3_s0"].x == (128.0, 256.0)
    assert curves["sb3_s0"].y_label == "rollout/ep_rew_mean"


def test_a_corrupt_run_is_named_and_skipped(runs, report):
    _, done = report
    assert f"warning: skipping {runs / 'broken'}" in done.stderr
    assert "run.json is unreadable or corrupt" in done.stderr
    assert "grid5: 5 runs" in done.stdout and "recall4: 1 runs" in done.stdout


def test_a_folder_without_runs_fails_clearly(tmp_path, capsys):
    with pytest.raises(ValueError, match="no evaluated runs under"):
        report_script.main(report_script.Args(str(tmp_path), out=str(tmp_path / "reports")))
    with pytest.raises(ValueError, match="is not a folder"):
        report_script.main(report_script.Args(str(tmp_path / "missing")))
    with pytest.raises(SystemExit) as exit_info:
        report_script.parse(report_script.Args, None, [str(tmp_path), "--digits", "-1"])
    assert exit_info.value.code == 2
    assert "--digits '-1': expected a value >= 0" in capsys.readouterr().err
