#!/bin/bash
# The grid reproduction with a q schedule, 2,400 generations of the default recipe each:
#   q_R: q = 1 to generation 40, q = 8 to 600, then q = inf (the exact adversary)
#   E_R: q = 1 throughout (ERM)
# usage: bash results/grid/repro_schedule/run.sh q_R:0 E_R:0 ...   (variant:seed, one after another)
#        POPSIZE=64 bash results/grid/repro_schedule/run.sh q_R:0 ...   (into pop64/; default: the preset's 32)
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-.venv/bin/python}
for run in "$@"; do
  variant=${run%:*} seed=${run#*:}
  case $variant in
    q_R) norm=(--q inf --q-schedule 40:1 600:8) ;;
    E_R) norm=(--q 1) ;;
    *) echo "unknown variant $variant (q_R or E_R)" >&2; exit 2 ;;
  esac
  out=results/grid/repro_schedule${POPSIZE:+/pop$POPSIZE}/${variant}_seed$seed
  mkdir -p "$(dirname "$out")"
  start=$(date +%s)
  OMP_NUM_THREADS=1 $PYTHON scripts/evolve.py "${norm[@]}" --generations 2400 --seed "$seed" ${POPSIZE:+--popsize $POPSIZE} \
    --threads 1 --progress false --eval-every 100 --out "$out" > "$out.out" 2>&1
  echo "wall $(( $(date +%s) - start )) s" >> "$out.out"
done
