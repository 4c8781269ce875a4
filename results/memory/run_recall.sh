#!/usr/bin/env bash
# Issue 12: does the MemoryProcessor move where randomness appears in the recall q sweep?
# Recall N = 15, q_R with the task's m = 30 seeds, the paper preset, batch 64, STEPS steps
# (default 6000; the task's default is 24,000 of batch 128), quick evaluation every 1000 steps,
# one run at a time on one core, seed 0. A run whose model.pt exists is skipped.
# Groups: plain (the preset), memory (T = 2 rounds of its two blocks), noread (the same rounds
# without reading the ideas). Usage (from the repository root):
#     [QS="4 16 64"] [STEPS=6000] bash results/memory/run_recall.sh [GROUP...]
set -euo pipefail
OUT=results/memory/recall
STEPS=${STEPS:-6000}
COMMON=(--task recall --n 15 --variant q_R --batch-size 64 --steps "$STEPS" --eval-every 1000
        --eval-seeds 31 --log-every 100 --checkpoint-every 1000 --threads 1 --progress false
        --seed 0)
source "$(dirname "$0")/run.sh"

groups=("$@")
[[ ${#groups[@]} -eq 0 ]] && groups=(plain memory)
for group in "${groups[@]}"; do
  for q in ${QS:-4 16 64}; do
    case $group in
      plain) run "plain_q${q}_${STEPS}" --q "$q" ;;
      memory) run "mem_T2_q${q}_${STEPS}" --q "$q" --memory-rounds 2 ;;
      noread) run "noread_T2_q${q}_${STEPS}" --q "$q" --memory-rounds 2 --read-memory false ;;
    esac
  done
done
