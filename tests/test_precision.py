"""bf16 mixed precision with the configs' fused Adam and gradient clipping (what trainer=ddp gives on GPUs)."""

from __future__ import annotations

import json

from tests.conftest import compose_train, tiny_overrides


def test_bf16_mixed_trains_with_fused_adam_and_clipping(reverse_corpus, tmp_path):
    # Lightning refuses to clip for an optimiser that can unscale itself, though bf16 has no scaler.
    from nmt.training import train

    overrides = tiny_overrides(reverse_corpus, tmp_path / "cache", "transformer")
    overrides += ["trainer.precision=bf16-mixed", "model.optimizer.fused=true", "model.grad_clip=0.5"]
    overrides += ["trainer.max_epochs=-1", "+trainer.max_steps=4", "decode.beam_size=1"]
    run = tmp_path / "run"
    train(compose_train(overrides), run)
    results = json.loads((run / "results.json").read_text())
    assert results["train"]["steps"] == 4
