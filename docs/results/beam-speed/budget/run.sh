#!/usr/bin/env bash
# Beam 5 on the trained en→de Multi30k runs of 3 Dec 2026 at several decoding batch budgets
# (sentences × beams × longest source): main with the shortest stop, in 1 and 2 processes, against the
# base commit of issue 18 (67758ec) at its default budget, in one session, on one machine. Writes the
# JSON files beside this script; `python summarize.py` prints the README's tables.
#   bash docs/results/beam-speed/budget/run.sh <pair dir> <base worktree> [<multi30k dir>]
# <pair dir>: runs/multi30k-en-de/<time> (transformer/ and rnn/ from `make multi30k`);
# <base worktree>: `git worktree add --detach <dir> 67758ec`. BUDGETS="4096 16384" and REPS=2 by default;
# FIRST_REP=3 numbers the repeats of a second call on from 3, so that its base runs add to the first ones.
set -euo pipefail
PAIR=$(realpath "$1"); BASE=$(realpath "$2"); ROOT=$(realpath "${3:-../shared/data/multi30k}")
HERE=$(cd "$(dirname "$0")" && pwd); PY="$(pwd)/.venv/bin/python"  # not realpath: the link is what makes it the venv
export OMP_NUM_THREADS=2 MPLBACKEND=Agg
COPY=$(mktemp -d)
bash "$HERE/../copy_for_base.sh" "$PAIR" "$COPY" "$PY"
COMMON=(steps=0 sequential_sentences=20 "data.root=$ROOT")
MAIN=("run=[$PAIR/transformer,$PAIR/rnn]" "${COMMON[@]}" "decode_workers=[1,2]" beam.stopping=shortest)
for rep in $(seq "${FIRST_REP:-1}" $((${FIRST_REP:-1} + ${REPS:-2} - 1))); do
  (cd "$BASE" && NMT_CACHE_DIR="$COPY/cache" "$PY" -m nmt.bench "run=[$COPY/transformer,$COPY/rnn]" "${COMMON[@]}" \
    "output=$HERE/bench-base-$rep.json")
  for budget in ${BUDGETS:-4096 16384}; do
    "$PY" -m nmt.bench "${MAIN[@]}" "decode_max_tokens=$budget" "output=$HERE/bench-shortest-$budget-$rep.json"
  done
done
# Test BLEU at each budget (beam 5, α = 0.6, the best checkpoint, shortest stop, as the bench decodes)
for m in transformer rnn; do
  for budget in ${BUDGETS:-4096 16384}; do
    "$PY" -m nmt.evaluate "run=$PAIR/$m" split=test "data.root=$ROOT" workers=2 decode.stopping=shortest \
      "max_tokens=$budget" "output=$HERE/eval-$m-shortest-$budget.json" "hypotheses=$HERE/hypotheses/$m-shortest-$budget.txt"
  done
done
rm -rf "$COPY"
