"""Where the RNN's fill_ and add_ go: one training step of the default RNN on a synthetic full batch, profiled with
input shapes (one thread):

    OMP_NUM_THREADS=1 python docs/results/cpu-levers/rnn_shapes.py [--indexing]

``--indexing`` reads W E y_{i-1} as ``Wy[:, i]`` (the loop before it used ``unbind``), to see its backward's
(B, T, 3H) fills. The encoder's packed ``nn.GRU`` showed as (B·S, 3H) fills and adds, two per source position,
until the encoder ran unpacked (``nmt.gru.bidirectional_gru``); they are gone.
"""

import sys

import torch
import torch.nn.functional as F
from torch.profiler import profile

from nmt.models.rnn import Bahdanau

B, S, T, V = 207, 19, 19, 8000  # about the sentences, lengths and vocabulary of a 4,096-token Multi30k batch


def indexing_loop(model: Bahdanau):
    """``_teacher_forcing`` as it was: the loop reads ``Wy[:, i]``."""

    def forward(src, src_mask, tgt_in):
        state = model.init_state(model.encode(src, src_mask))
        Ey, Wy = model._embed_target(tgt_in)
        s, tops, contexts = state.s, [], []
        for i in range(tgt_in.size(1)):
            s, c, _ = model._position(s, Wy[:, i], state.keys, state.annotations, state.mask)
            tops.append(s[:, -1])
            contexts.append(c)
        return model._readout(torch.stack(tops, dim=1), Ey, torch.stack(contexts, dim=1)), None

    return forward


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = Bahdanau(V, V, pad_id=0, bos_id=1, eos_id=2, shared_vocab=True)
    forward = indexing_loop(model) if "--indexing" in sys.argv else model
    src = torch.randint(3, V, (B, S))
    src_mask = torch.ones(B, S, dtype=torch.bool)
    tgt = torch.randint(3, V, (B, T + 1))

    def step() -> None:
        logits, _ = forward(src, src_mask, tgt[:, :-1])  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, V), tgt[:, 1:].reshape(-1), label_smoothing=0.1)
        model.zero_grad(set_to_none=True)
        loss.backward()

    for _ in range(2):
        step()
    with profile(record_shapes=True) as prof:
        step()
    rows = [e for e in prof.key_averages(group_by_input_shape=True) if e.key in ("aten::fill_", "aten::add_")]
    print(f"{'op':<12} {'calls':>6} {'self ms':>8}  input shapes")
    for e in sorted(rows, key=lambda e: -e.self_cpu_time_total)[:8]:
        print(f"{e.key:<12} {e.count:>6} {e.self_cpu_time_total / 1000:>8.1f}  {e.input_shapes}")


if __name__ == "__main__":
    main()
