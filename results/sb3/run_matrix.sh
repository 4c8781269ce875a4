#!/usr/bin/env bash
# The SB3 baselines of results/sb3: PPO, A2C, DQN and RecurrentPPO x policy seed in the
# observation (false/true) x adversary (none/tracking) on the three tasks, one run at a time on
# one thread. Run from the repository root: bash results/sb3/run_matrix.sh
# A run whose evaluation.json exists is skipped; DQN takes only Discrete actions (the grid).
set -u
declare -A STEPS=([grid]=100000 [recall]=50000 [coloring]=50000)
declare -A ENV_ID=([grid]=RandAlg/GridExplore-v0 [recall]=RandAlg/AssociativeRecall-v1
                   [coloring]=RandAlg/GraphColoring-v0)
declare -A EVAL_SEEDS=([grid]=32 [recall]=16 [coloring]=16)
PPO_GRID='{"n_steps": 256, "batch_size": 256}'
PPO_ONE_SHOT='{"n_steps": 128, "batch_size": 256}'
DQN='{"buffer_size": 50000, "learning_starts": 1000, "target_update_interval": 1000, "exploration_fraction": 0.3}'
RPPO='{"n_steps": 128, "batch_size": 512, "n_epochs": 4, "policy_kwargs": {"lstm_hidden_size": 64}}'

algo_kwargs() {  # $1 algo, $2 env
  case $1 in
    ppo) [ "$2" = grid ] && echo "$PPO_GRID" || echo "$PPO_ONE_SHOT" ;;
    a2c) echo '{}' ;;
    dqn) echo "$DQN" ;;
    recurrent_ppo) echo "$RPPO" ;;
  esac
}

for env in recall coloring grid; do
  for seed_obs in false true; do
    for adversary in none tracking; do
      for algo in ppo a2c dqn recurrent_ppo; do
        out=results/sb3/$env/${algo}_seed-obs-${seed_obs}_adv-${adversary}
        if [ "$algo" = dqn ] && [ "$env" != grid ]; then
          echo "$out: not supported (DQN needs Discrete actions)"; continue
        fi
        [ -f "$out/evaluation.json" ] && { echo "$out: done"; continue; }
        mkdir -p "$(dirname "$out")"
        start=$(date +%s)
        OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python scripts/sb3_baseline.py \
          --algo "$algo" --env "${ENV_ID[$env]}" --timesteps "${STEPS[$env]}" \
          --seed-obs "$seed_obs" --adversary "$adversary" --algo-kwargs "$(algo_kwargs $algo $env)" \
          --eval-seeds "${EVAL_SEEDS[$env]}" --baselines false --threads 1 --progress false \
          --overwrite true --out "$out" > "$out.out" 2>&1
        echo "$out: exit $? in $(( $(date +%s) - start )) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
      done
    done
  done
done
