"""nmt.optim.adam and adamw: fused where torch can, the default (with a warning) where it cannot."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nmt import optim
from nmt.safe_load import refuse_unknown_targets

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.mark.parametrize("model", ["rnn", "transformer"])
def test_the_model_configs_get_fused_adam_on_cpu(model):
    factory = instantiate(OmegaConf.load(CONF / "model" / f"{model}.yaml").optimizer)
    opt = factory(torch.nn.Linear(3, 2).parameters())
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["fused"] is True


def test_falls_back_where_torch_has_no_fused_kernel(monkeypatch, caplog):
    """As torch < 2.4 on CPU (or a device without the kernel) answers fused=True."""
    real = torch.optim.Adam

    def no_fused_kernel(params, fused=None, **kwargs):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real(params, fused=fused, **kwargs)

    monkeypatch.setattr(optim.torch.optim, "Adam", no_fused_kernel)
    layer = torch.nn.Linear(3, 2)
    with caplog.at_level(logging.WARNING, logger="nmt.optim"):
        opt = optim.adam(layer.parameters(), fused=True, lr=0.1)
    assert isinstance(opt, real) and not opt.defaults["fused"] and opt.defaults["lr"] == 0.1
    assert "no fused Adam for cpu" in caplog.text
    layer(torch.ones(1, 3)).sum().backward()
    before = layer.weight.detach().clone()
    opt.step()
    assert not torch.equal(before, layer.weight)  # it trains


def test_other_errors_are_not_hidden(monkeypatch):
    def broken(params, fused=None, **kwargs):
        raise RuntimeError("something else")

    monkeypatch.setattr(optim.torch.optim, "Adam", broken)
    with pytest.raises(RuntimeError, match="something else"):
        optim.adam(torch.nn.Linear(3, 2).parameters(), fused=True)


def test_adamw_decays_the_matrices_only():
    """Decoupled decay: with a zero gradient a matrix shrinks by lr * weight_decay, a bias does not move."""
    layer = torch.nn.Linear(3, 2)
    opt = optim.adamw(layer.parameters(), weight_decay=0.1, fused=True, lr=0.5)
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["fused"] is True
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    layer.weight.grad, layer.bias.grad = torch.zeros_like(weight), torch.zeros_like(bias)
    opt.step()
    torch.testing.assert_close(layer.weight.detach(), weight * (1 - 0.5 * 0.1))
    torch.testing.assert_close(layer.bias.detach(), bias)


def test_adamw_from_the_config_with_an_override():
    cfg = OmegaConf.load(CONF / "model" / "transformer.yaml").optimizer
    cfg._target_ = "nmt.optim.adamw"
    cfg.weight_decay = 0.1
    opt = instantiate(cfg)(torch.nn.Linear(3, 2).parameters())
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.1
    refuse_unknown_targets({"model": {"optimizer": dict(cfg)}}, "config.yaml")  # its run folders still open


def test_adamw_refuses_groups_it_would_lose():
    with pytest.raises(ValueError, match="not groups"):
        optim.adamw([{"params": torch.nn.Linear(3, 2).parameters()}])
