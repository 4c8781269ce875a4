#!/usr/bin/env bash
# Issue 12: the MemoryProcessor and the idea loss on coloring C_10, one run at a time on one core.
# Every run: paper_tables preset (2 pre-LN blocks), batch 64, m = 10 seeds, q = 10, 3000 steps,
# warm-up 300, the task's learning rates (3e-3 -> 3e-4), quick evaluation (8192 random cycles,
# 31 policy seeds) every 500 steps, seed 0 unless a group says otherwise. A run whose model.pt
# exists is skipped. Groups: plain memory noread idea depth weak seeds, as VARIANT:GROUP.
# Usage (from the repository root): [ROUNDS="2 3 4 6"] [DEPTHS="4 6 8 12"] \
#     bash results/memory/run_grid.sh [VARIANT:GROUP...]
set -euo pipefail
OUT=results/memory/runs
COMMON=(--task coloring --n 10 --preset paper_tables --batch-size 64 --steps 3000 --warmup 300
        --eval-every 500 --eval-seeds 31 --log-every 100 --checkpoint-every 3000
        --threads 1 --progress false --seed 0)
source "$(dirname "$0")/run.sh"

grid() {  # grid VARIANT GROUP: the runs of one variant and group
  local v=$1 group=$2 T
  case $group in
    plain) run "${v}_plain_L2" --variant "$v" ;;  # T = 1: the preset itself
    memory) for T in ${ROUNDS:-2 3 4 6}; do run "${v}_mem_T$T" --variant "$v" --memory-rounds "$T"; done ;;
    noread) for T in ${ROUNDS:-2 3 4 6}; do
              run "${v}_noread_T$T" --variant "$v" --memory-rounds "$T" --read-memory false; done ;;
    idea) for T in ${ROUNDS:-2 3 4 6}; do
            run "${v}_idea_T$T" --variant "$v" --memory-rounds "$T" --idea-loss-weight 0.1 \
              --idea-inputs 32; done ;;
    depth) for L in ${DEPTHS:-4 6 8 12}; do  # 2T distinct blocks: the compute of T rounds, T x the weights
             run "${v}_plain_L$L" --variant "$v" --model "{\"n_layers\": $L}"; done ;;
    weak) run "${v}_paper_L2" --variant "$v" --preset paper  # the 2-block preset without MLP/LN/positions
          run "${v}_paper_mem_T2" --variant "$v" --preset paper --memory-rounds 2
          run "${v}_paper_noread_T2" --variant "$v" --preset paper --memory-rounds 2 --read-memory false ;;
    seeds) for s in 1 2; do  # replicates of the cheapest cells
             run "${v}_plain_L2_s$s" --variant "$v" --seed "$s"
             run "${v}_mem_T2_s$s" --variant "$v" --memory-rounds 2 --seed "$s"
             run "${v}_paper_L2_s$s" --variant "$v" --preset paper --seed "$s"; done ;;
  esac
}

groups=("$@")
if [[ ${#groups[@]} -eq 0 ]]; then
  groups=(q_R:plain q_r0:plain q_r0:memory q_r0:noread q_r0:idea q_r0:depth
          q_R:memory q_R:noread q_R:idea q_R:depth)
fi
for g in "${groups[@]}"; do grid "${g%%:*}" "${g##*:}"; done
