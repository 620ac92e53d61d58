"""LR schedules: the cooldown's arithmetic, and a run whose rate really falls to 0 at its budget's end."""

from __future__ import annotations

import csv
import pickle

import pytest
import torch

from nmt.errors import ConfigError
from nmt.schedule import ConstantFactor, InverseSqrtFactor, constant, has_budget, inverse_sqrt
from tests.conftest import compose_train, tiny_overrides


def test_inverse_sqrt_peaks_at_warmup_then_falls_as_one_over_root_step():
    f = InverseSqrtFactor(100)
    assert f(50) == pytest.approx(0.5) and f(100) == pytest.approx(1.0) and f(400) == pytest.approx(0.5)


@pytest.mark.parametrize("factor", [InverseSqrtFactor(10, cooldown=0.4), ConstantFactor(0, cooldown=0.4)])
def test_cooldown_falls_linearly_to_zero_over_the_last_fraction_of_the_budget(factor):
    base = factor(1000)
    for spent, share in [(0.0, 1.0), (0.6, 1.0), (0.7, 0.75), (0.9, 0.25), (1.0, 0.0)]:
        factor.spent = spent
        assert factor(1000) == pytest.approx(base * share), spent
    # It survives the checkpoint (LambdaLR pickles the factor's state with the scheduler).
    assert pickle.loads(pickle.dumps(factor)).spent == 1.0


def test_constant_warmup_and_no_cooldown_by_default():
    f = ConstantFactor(4)
    f.spent = 0.99  # no cooldown: the budget is ignored
    assert [f(s) for s in (1, 2, 4, 100)] == [0.25, 0.5, 1.0, 1.0]


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_cooldown_outside_zero_one_is_refused(bad):
    with pytest.raises(ConfigError, match="cooldown must be a fraction"):
        ConstantFactor(0, cooldown=bad)


def test_schedules_drive_the_optimiser_rate():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = constant(opt, warmup_steps=0, cooldown=0.5)
    sched.lr_lambdas[0].spent = 0.75
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert isinstance(inverse_sqrt(opt2, warmup_steps=2).lr_lambdas[0], InverseSqrtFactor)


def test_has_budget_follows_lightning_defaults():
    assert has_budget({"max_time": "00:00:01:00", "max_epochs": -1})
    assert has_budget({"max_epochs": None, "max_steps": -1})  # Lightning's default: 1000 epochs
    assert has_budget({"max_epochs": -1, "max_steps": 10})
    assert not has_budget({"max_epochs": -1, "max_steps": -1, "max_time": None})


@pytest.mark.parametrize("model", ["transformer", "rnn"])
def test_a_run_with_a_cooldown_ends_at_a_rate_near_zero(model, reverse_corpus, tmp_path):
    from nmt.training import train

    steps = 40
    overrides = tiny_overrides(reverse_corpus, tmp_path / "cache", model)
    overrides += [
        "trainer.max_epochs=-1",
        f"+trainer.max_steps={steps}",
        "trainer.log_every_n_steps=1",
        "model.scheduler.warmup_steps=5",
        "model.scheduler.cooldown=0.5",
        "decode.beam_size=1",
    ]
    run = tmp_path / "run"
    train(compose_train(overrides), run)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    column = next(k for k in rows[0] if k.startswith("lr-"))
    lrs = {int(r["step"]): float(r[column]) for r in rows if r.get(column)}
    peak = max(lrs.values())
    # The first half follows the schedule's base (flat for the RNN); then the rate falls steadily
    # and the last step runs at a tenth of the peak or less (the budget is 40 steps here; the
    # scheduler sets each rate one step ahead, so the last rate is that of 38 of 40 steps spent).
    assert lrs[steps] <= 0.1 * peak + 1e-12
    if model == "rnn":
        assert lrs[10] == lrs[20] == peak
    second_half = [lrs[s] for s in range(steps // 2 + 3, steps + 1)]
    assert all(b < a for a, b in zip(second_half, second_half[1:], strict=False))
