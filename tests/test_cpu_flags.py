"""The CPU flags that pick int8 decoding's input bits and the Multi30k recipes' training precision."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from nmt import cpu_flags, trainer_setup
from nmt.cpu_flags import has_native_bf16, has_vnni

ZEN4 = "flags\t\t: fpu sse avx2 avx512f avx512bw avx512_vnni avx512_bf16\n"
SAPPHIRE_RAPIDS = "flags\t\t: fpu sse avx2 avx512f avx512bw avx512_vnni amx_bf16 amx_tile\n"
ALDER_LAKE = "flags\t\t: fpu sse avx2 avx_vnni\n"
SKYLAKE = "flags\t\t: fpu sse avx2 avx512f avx512bw\n"


@pytest.mark.parametrize(
    ("flags", "vnni", "bf16"),
    [(ZEN4, True, True), (SAPPHIRE_RAPIDS, True, True), (ALDER_LAKE, True, False), (SKYLAKE, False, False)],
)
def test_flags_are_read_as_whole_words(tmp_path, flags, vnni, bf16):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(flags)
    assert has_vnni(cpuinfo) is vnni  # 8-bit int8 inputs only with 32-bit sums of u8·s8 products
    assert has_native_bf16(cpuinfo) is bf16  # avx512bw alone emulates bf16: slower than fp32


def test_no_cpuinfo_assumes_the_worst(tmp_path):
    assert not has_vnni(tmp_path / "missing") and not has_native_bf16(tmp_path / "missing")


@pytest.mark.parametrize(
    ("flags", "accelerator", "expected"),
    [
        (ZEN4, "cpu", "bf16-mixed"),
        (ZEN4, "auto", "bf16-mixed"),
        (SKYLAKE, "cpu", "32-true"),
        (ALDER_LAKE, "auto", "32-true"),
        (SKYLAKE, "gpu", "bf16-mixed"),
        (SKYLAKE, "cuda", "bf16-mixed"),
        (ZEN4, "mps", "32-true"),
    ],
)
def test_recipe_precision_is_bf16_where_the_device_multiplies_it_natively(
    tmp_path, monkeypatch, flags, accelerator, expected
):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(flags)
    monkeypatch.setattr(cpu_flags, "CPUINFO", cpuinfo)
    monkeypatch.setattr(trainer_setup.torch.cuda, "is_available", lambda: False)
    assert trainer_setup.recipe_precision(accelerator) == expected


@pytest.mark.parametrize("experiment", ["multi30k_transformer", "multi30k_rnn"])
def test_the_multi30k_recipes_resolve_their_precision_from_the_device(monkeypatch, experiment):
    from tests.conftest import compose_train

    monkeypatch.setattr(trainer_setup, "has_native_bf16", lambda: True)
    cfg = compose_train([f"experiment={experiment}"])
    assert cfg.trainer.precision == "bf16-mixed"
    saved = OmegaConf.create(OmegaConf.to_yaml(cfg, resolve=True))  # as nmt.run_folder writes config.yaml
    monkeypatch.setattr(trainer_setup, "has_native_bf16", lambda: False)
    assert saved.trainer.precision == "bf16-mixed"  # a run folder keeps the precision it trained in
    monkeypatch.setattr(trainer_setup, "has_native_bf16", lambda: False)
    assert compose_train([f"experiment={experiment}"]).trainer.precision == "32-true"
    assert compose_train([f"experiment={experiment}", "trainer=gpu"]).trainer.precision == "bf16-mixed"
    fp32 = compose_train([f"experiment={experiment}", "trainer.precision=32-true"])  # the published fp32 runs
    assert fp32.trainer.precision == "32-true"
