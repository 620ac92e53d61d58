"""The recurrent layers of Bahdanau et al. (2015): the paper's GRU cell and a bidirectional GRU read within
each sentence's length.

``nmt.models.rnn.Bahdanau`` builds its encoder and decoder from these, as the Transformer builds on
``nmt.attention``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class GRUCell(nn.Module):
    """The paper's gated recurrent unit (appendix A.1), with the input projection left to the caller.

    With input x_i (for the first decoder layer x_i = [E y_{i-1}; c_i]):

        z_i = σ(W_z x_i + U_z s_{i-1})            update gate
        r_i = σ(W_r x_i + U_r s_{i-1})            reset gate
        s̃_i = tanh(W x_i + U [r_i ∘ s_{i-1}])     candidate state
        s_i = (1 - z_i) ∘ s_{i-1} + z_i ∘ s̃_i

    The caller passes [W_z x_i; W_r x_i; W x_i] (biases included) so that the part of it that
    does not depend on the recurrence can be computed for all positions at once.
    """

    def __init__(self, hidden_dim: int) -> None:
        super().__init__()
        self.U_zr = nn.Linear(hidden_dim, 2 * hidden_dim, bias=False)  # [U_z; U_r]
        self.U = nn.Linear(hidden_dim, hidden_dim, bias=False)
        for block in self.U_zr.weight.chunk(2, dim=0):  # orthogonal recurrent matrices, as the paper
            nn.init.orthogonal_(block)
        nn.init.orthogonal_(self.U.weight)

    def forward(self, Wx: Tensor, s_prev: Tensor) -> Tensor:
        """One update. Shapes: Wx (B, 3H) = [W_z x; W_r x; W x]; s_prev (B, H) -> s_i (B, H)."""
        Wz_x, Wr_x, W_x = Wx.chunk(3, dim=-1)  # 3 × (B, H)
        Uz_s, Ur_s = self.U_zr(s_prev).chunk(2, dim=-1)  # 2 × (B, H)
        z = torch.sigmoid(Wz_x + Uz_s)
        r = torch.sigmoid(Wr_x + Ur_s)
        s_tilde = torch.tanh(W_x + self.U(r * s_prev))
        return (1 - z) * s_prev + z * s_tilde


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """Each sentence's words in reverse order, its padding left where it was (so it is its own inverse).

    Shapes: x (B, S, D); lengths (B,) -> (B, S, D) with row b = x_{b,len-1} … x_{b,0}, then x_{b,len} … x_{b,S-1}.
    """
    return _read_positions(x, _reversed_positions(lengths, x.size(1)))


def _reversed_positions(lengths: Tensor, max_len: int) -> Tensor:
    """Where each position reads from in ``reverse_within_length``. Shapes: lengths (B,) -> (B, S)."""
    j = torch.arange(max_len, device=lengths.device)  # (S,)
    n = lengths.unsqueeze(1)  # (B, 1)
    return torch.where(j < n, n - 1 - j, j)  # (B, S)


def _read_positions(x: Tensor, source: Tensor) -> Tensor:
    """Row b, position j of the result is x[b, source[b, j]]. Shapes: x (B, S, D); source (B, S) -> (B, S, D)."""
    return x.gather(1, source.unsqueeze(-1).expand_as(x))


def bidirectional_gru(gru: nn.GRU, x: Tensor, mask: Tensor) -> Tensor:
    """h_j = [→h_j ; ←h_j] from the top layer of a bidirectional ``nn.GRU``, each sentence read within its length.

    →h reads the padded batch as it is: the padding comes after the words, so it cannot reach them.
    ←h reads every sentence reversed within its own length, so it starts at the sentence's last word,
    not at the padding; its outputs are put back in word order. Both run as plain (unpacked) sequences
    with the GRU's own weights: packing gives the same annotations, but on the CPU its backward fills and
    adds a (B·S, 3H) gradient at every source position (docs/results/cpu-levers/).

    Shapes: x (B, S, E); mask (B, S) True on real words -> (B, S, 2H), zero on padding.
    """
    reversed_source = _reversed_positions(mask.sum(dim=1), x.size(1))  # (B, S), one index for every reversal
    real = mask.unsqueeze(-1).to(x.dtype)  # (B, S, 1)
    for k in range(gru.num_layers):
        if k > 0:  # nn.GRU's dropout sits between stacked layers
            x = F.dropout(x, gru.dropout, gru.training)
        forward = _one_direction(gru, k, "", x)  # →h: (B, S, H)
        backward = _one_direction(gru, k, "_reverse", _read_positions(x, reversed_source))  # ←h, sentences reversed
        x = torch.cat([forward, _read_positions(backward, reversed_source)], dim=-1) * real  # (B, S, 2H)
    return x


def packed_bidirectional_gru(gru: nn.GRU, x: Tensor, mask: Tensor) -> Tensor:
    """``bidirectional_gru`` through a packed batch: cuDNN runs it in one call, with its weights in one buffer.

    Shapes: x (B, S, E); mask (B, S) True on real words -> (B, S, 2H), zero on padding.
    """
    lengths = mask.sum(dim=1).cpu()  # (B,) pack_padded_sequence wants lengths on the CPU
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = gru(packed)  # final states unused: ←h_1 is read off the annotations
    return pad_packed_sequence(out, batch_first=True, total_length=x.size(1))[0]  # (B, S, 2H)


def _one_direction(gru: nn.GRU, layer: int, suffix: str, x: Tensor) -> Tensor:
    """One direction (``suffix`` "" or "_reverse") of one layer of ``gru`` over x from a zero state.

    ``torch.gru`` is the kernel behind ``nn.GRU``, here with that direction's own weights.
    Shapes: x (B, S, D) -> (B, S, H).
    """
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if gru.bias else ("weight_ih", "weight_hh")
    weights = [getattr(gru, f"{name}_l{layer}{suffix}") for name in names]
    h0 = x.new_zeros(1, x.size(0), gru.hidden_size)  # (1, B, H)
    # arguments: input, h0, weights, has_biases, num_layers, dropout, train, bidirectional, batch_first
    out, _ = torch.gru(x, h0, weights, gru.bias, 1, 0.0, gru.training, False, True)
    return out
