#!/usr/bin/env bash
# A copy of a `make multi30k` pair that the base commit of issue 18 (67758ec) can read: each run's
# vocab/, config.yaml and best checkpoint, without the vocabulary's newer `sample_lines` setting and
# with the RNN's training schedule as it was then (none: a constant rate; `nmt.schedule` came later).
# Decoding reads neither; the weights and the SentencePiece model are the same files.
#   bash docs/results/beam-speed/copy_for_base.sh <pair dir> <empty dir> <python>
set -euo pipefail
PAIR=$1; COPY=$2; PY=$3
for m in transformer rnn; do
  mkdir -p "$COPY/$m/checkpoints"
  cp -r "$PAIR/$m/vocab" "$PAIR/$m/config.yaml" "$COPY/$m/"
  cp "$PAIR/$m"/checkpoints/best-*.ckpt "$COPY/$m/checkpoints/"
  "$PY" - "$COPY/$m" <<'PYEOF'
import json, sys
from omegaconf import OmegaConf
vocab = f"{sys.argv[1]}/vocab/vocab.json"
d = json.load(open(vocab)); d["settings"].pop("sample_lines", None); json.dump(d, open(vocab, "w"))
cfg = OmegaConf.load(f"{sys.argv[1]}/config.yaml")
if cfg.model.scheduler is not None and cfg.model.scheduler._target_ == "nmt.schedule.constant":
    cfg.model.scheduler = None
OmegaConf.save(cfg, f"{sys.argv[1]}/config.yaml")
PYEOF
done
