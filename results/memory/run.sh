# Sourced by run_grid.sh and run_recall.sh: `run NAME ARGS...` trains one run into $OUT/NAME
# with the flags ${COMMON[@]} ARGS (skipped when its model.pt exists), one torch thread.
export OMP_NUM_THREADS=1
mkdir -p "$OUT"

run() {  # run NAME ARGS...
  local name=$1; shift
  if [[ -f $OUT/$name/model.pt ]]; then echo "skip $name"; return; fi
  echo "$(date -u +%H:%M:%S) start $name: $*"
  .venv/bin/python scripts/train_qnorm.py "${COMMON[@]}" "$@" --out "$OUT/$name" --overwrite true \
    > "$OUT/$name.train.out" 2>&1 || echo "FAILED $name (see $OUT/$name.train.out)"
  echo "$(date -u +%H:%M:%S) end $name"
}
