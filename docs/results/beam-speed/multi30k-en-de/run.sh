#!/usr/bin/env bash
# Beam 5 on the trained en→de Multi30k runs: today's main (stopping rule, decoding processes) against
# the base commit of issue 18 (67758ec), in one session, on one machine. Writes the JSON files beside
# this script; `python summarize.py` prints the table of the README.
#   bash docs/results/beam-speed/multi30k-en-de/run.sh <pair dir> <base worktree> [<multi30k dir>]
# <pair dir>: runs/multi30k-en-de/<time> (transformer/ and rnn/ from `make multi30k`);
# <base worktree>: `git worktree add --detach <dir> 67758ec`.
set -euo pipefail
PAIR=$(realpath "$1"); BASE=$(realpath "$2"); ROOT=$(realpath "${3:-../shared/data/multi30k}")
HERE=$(cd "$(dirname "$0")" && pwd); PY="$(pwd)/.venv/bin/python"  # not realpath: the link is what makes it the venv
export OMP_NUM_THREADS=2 MPLBACKEND=Agg
# The base commit reads only what it knew: a copy of each run it accepts (../copy_for_base.sh).
COPY=$(mktemp -d)
bash "$HERE/../copy_for_base.sh" "$PAIR" "$COPY" "$PY"
COMMON=(steps=0 sequential_sentences=100 "data.root=$ROOT")
for rep in $(seq "${REPS:-2}"); do
  (cd "$BASE" && NMT_CACHE_DIR="$COPY/cache" "$PY" -m nmt.bench "run=[$COPY/transformer,$COPY/rnn]" "${COMMON[@]}" \
    "output=$HERE/bench-base-$rep.json")
  "$PY" -m nmt.bench "run=[$PAIR/transformer,$PAIR/rnn]" "${COMMON[@]}" "decode_workers=[1,2]" \
    "output=$HERE/bench-exact-$rep.json"
  "$PY" -m nmt.bench "run=[$PAIR/transformer,$PAIR/rnn]" "${COMMON[@]}" "decode_workers=[1,2]" beam.stopping=shortest \
    "output=$HERE/bench-shortest-$rep.json"
done
# Test BLEU of each stopping rule (beam 5, α = 0.6, the best checkpoint, as the bench decodes)
for m in transformer rnn; do
  for stop in exact shortest; do
    "$PY" -m nmt.evaluate "run=$PAIR/$m" split=test "data.root=$ROOT" workers=2 decode.stopping=$stop \
      "output=$HERE/eval-$m-$stop.json" "hypotheses=$HERE/hypotheses/$m-$stop.txt"
  done
done
# bf16 decoding (autocast; scores stay fp32), with the shortest stop: speed, then test BLEU
for rep in $(seq "${REPS:-2}"); do
  "$PY" -m nmt.bench "run=[$PAIR/transformer,$PAIR/rnn]" "${COMMON[@]}" "decode_workers=[1,2]" beam.stopping=shortest \
    beam.precision=bf16 "output=$HERE/bench-bf16-$rep.json"
done
for m in transformer rnn; do
  "$PY" -m nmt.evaluate "run=$PAIR/$m" split=test "data.root=$ROOT" workers=2 decode.stopping=shortest \
    decode.precision=bf16 "output=$HERE/eval-$m-shortest-bf16.json" "hypotheses=$HERE/hypotheses/$m-shortest-bf16.txt"
done
# cProfile of beam 5 on the Transformer, one thread, one process: before (base) and after (shortest stop)
(cd "$BASE" && PYTHONPATH="$BASE" "$PY" "$HERE/../profile_beam.py" "$COPY/transformer" base "$HERE/profile-base.json" "$ROOT")
PYTHONPATH=$(pwd) "$PY" "$HERE/../profile_beam.py" "$PAIR/transformer" main-exact "$HERE/profile-exact.json" "$ROOT" exact
PYTHONPATH=$(pwd) "$PY" "$HERE/../profile_beam.py" "$PAIR/transformer" main-shortest "$HERE/profile-shortest.json" "$ROOT" shortest
rm -rf "$COPY"
