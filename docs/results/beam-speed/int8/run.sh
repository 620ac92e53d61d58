#!/usr/bin/env bash
# Beam 5 with int8 matmuls (decode.precision=int8) on a trained en→de Multi30k pair: speed against the base
# commit of issue 18 (67758ec) and against main's fp32, in one session on one machine; val and test BLEU
# of every setting; a cProfile of each. Writes the JSON files beside this script; `python summarize.py`
# prints the README's tables.
#   bash docs/results/beam-speed/int8/run.sh <pair dir> <base worktree> [<multi30k dir>]
# <pair dir>: runs/multi30k-en-de/<time> (transformer/ and rnn/ from `make multi30k`);
# <base worktree>: `git worktree add --detach <dir> 67758ec`. REPS=2 by default.
set -euo pipefail
PAIR=$(realpath "$1"); BASE=$(realpath "$2"); ROOT=$(realpath "${3:-../shared/data/multi30k}")
HERE=$(cd "$(dirname "$0")" && pwd); PY="$(pwd)/.venv/bin/python"  # not realpath: the link is what makes it the venv
export OMP_NUM_THREADS=2 MPLBACKEND=Agg
COPY=$(mktemp -d)
bash "$HERE/../copy_for_base.sh" "$PAIR" "$COPY" "$PY"
COMMON=(steps=0 sequential_sentences=20 "data.root=$ROOT")
MAIN=("run=[$PAIR/transformer,$PAIR/rnn]" "${COMMON[@]}" "decode_workers=[1,2]" beam.stopping=shortest)
INT8=(beam.precision=int8 greedy.precision=int8)
for rep in $(seq 1 "${REPS:-2}"); do
  (cd "$BASE" && NMT_CACHE_DIR="$COPY/cache" "$PY" -m nmt.bench "run=[$COPY/transformer,$COPY/rnn]" "${COMMON[@]}" \
    "output=$HERE/bench-base-$rep.json")
  "$PY" -m nmt.bench "${MAIN[@]}" "output=$HERE/bench-fp32-$rep.json"
  "$PY" -m nmt.bench "${MAIN[@]}" "${INT8[@]}" "output=$HERE/bench-int8-$rep.json"
done
# BLEU of each setting (beam 5, α = 0.6, the best checkpoint): val, which decides, and test
for m in transformer rnn; do
  for split in val test; do
    for stop in exact shortest; do
      for prec in fp32 int8; do
        "$PY" -m nmt.evaluate "run=$PAIR/$m" "split=$split" "data.root=$ROOT" workers=2 "decode.stopping=$stop" \
          "decode.precision=$prec" "output=$HERE/eval-$m-$split-$stop-$prec.json" \
          "hypotheses=$HERE/hypotheses/$m-$split-$stop-$prec.txt"
      done
    done
  done
done
# Where the time goes: one process, one thread, cProfile (base; main fp32 and int8, shortest stop)
for m in transformer rnn; do
  (cd "$BASE" && PYTHONPATH="$BASE" "$PY" "$HERE/../profile_beam.py" "$COPY/$m" base "$HERE/profile-$m-base.json" "$ROOT")
  PYTHONPATH=$(pwd) "$PY" "$HERE/../profile_beam.py" "$PAIR/$m" fp32 "$HERE/profile-$m-fp32.json" "$ROOT" shortest
  PYTHONPATH=$(pwd) "$PY" "$HERE/../profile_beam.py" "$PAIR/$m" int8 "$HERE/profile-$m-int8.json" "$ROOT" shortest int8
done
rm -rf "$COPY"
