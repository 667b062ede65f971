"""Channel shuffles folded into adjacent weights; what cannot be folded becomes one static permutation.

Matched: ChannelShuffle (and PermuteChannels) modules in chains of convs, per-channel layers,
Shift-Max and residual blocks.
Replaced: the shuffle is deleted and the tensor after it is said to carry a channel *layout*
(position i holds true channel L[i]). The layout is then pushed forward:
  - element-wise and pooling layers do not care; BatchNorm and depthwise convs get their
    per-channel weights permuted; StaticShiftMax gets its coefficients permuted and its shift
    conjugated (it still has no gather: the new shift is again a few rolls), unless that would
    need more rolls than one transpose undoing the layout in front of it costs;
  - a dense conv or linear layer absorbs any layout into its input columns (then the layout is
    the identity again);
  - a grouped conv absorbs a layout in which every group of input positions holds one whole
    group of true channels (its groups are then produced in permuted order: a block layout);
    otherwise the cheapest static permutation that makes it so (`PermuteChannels`: a few slices,
    a 4-D grid transpose, or at worst a 1×1 permutation conv) is inserted in front of it;
  - at the end of a residual block the layout must equal the block input's; if not, one
    permutation is inserted before the add. Unknown modules get the layout undone in front of them.
The choices (undo early or late) are tried on copies and the cheapest result kept (estimated
full-tensor passes: permutations plus Shift-Max roll terms).
Applies: MicroNet-style models (features → avgpool → flatten → classifier) end to end; any other
model chain by chain (each chain returns to the identity layout at its end). Exact: only weights
are permuted.
"""

from __future__ import annotations

import torch
from torch import nn

from edgekit.models.layers import ChannelShuffle, HSigmoid, HSwish
from edgekit.rewrite.base import RewriteContext, input_shapes
from edgekit.rewrite.chain import is_holder
from edgekit.rewrite.permute_channels import PermuteChannels, inverse, realization, realization_cost, runs
from edgekit.rewrite.shift_max_static import StaticShiftMax, shift_offsets

ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.SiLU, nn.GELU, nn.Tanh, HSwish,
               HSigmoid, nn.Identity, nn.Dropout, nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d, nn.Flatten)


def _is_identity(layout) -> bool:
    return layout is None or bool(torch.equal(layout, torch.arange(len(layout))))


def block_order(layout: torch.Tensor, groups: int) -> torch.Tensor | None:
    """For each block of positions the one true block it holds, or None if some block mixes."""
    size = len(layout) // groups
    blocks = (layout // size).view(groups, size)
    if not bool((blocks == blocks[:, :1]).all()):
        return None
    return blocks[:, 0].clone()


class FoldChannelShuffles:
    name = "fold_channel_shuffles"

    def __init__(self):
        self.removed = 0
        self.inserted: list[str] = []

    def apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        """Folds with each choice (undo layouts early or late) on copies; keeps the cheapest result."""
        import copy

        if not any(isinstance(m, (ChannelShuffle, PermuteChannels)) for m in model.modules()):
            self.inserted = []
            return 0
        trials = []
        for prefer_identity in (True, False):
            for undo in (False, True):
                trial = copy.deepcopy(model)
                self.prefer_identity, self.undo_before_shift_max = prefer_identity, undo
                removed = self._apply(trial, ctx)
                trials.append((self.estimated_cost(trial), len(trials), removed, trial, list(self.inserted)))
        cost, _, removed, best, self.inserted = min(trials, key=lambda t: (t[0], t[1]))
        for name, child in list(best.named_children()):
            setattr(model, name, child)
        return removed

    def estimated_cost(self, model) -> int:
        """Full-tensor passes added: permutation realizations + Shift-Max roll terms."""
        cost = 0
        for m in model.modules():
            if isinstance(m, PermuteChannels):
                cost += realization_cost(m.perm, m.channels_last)
            elif isinstance(m, StaticShiftMax):
                cost += 2 * m.k * len(m.offsets) + (1 if m.offsets != [0] else 0)
        return cost

    def _apply(self, model: nn.Module, ctx: RewriteContext) -> int:
        self.removed, self.inserted = 0, []
        # Measured on LiteRT (XNNPACK), 1 thread: a channels-last grid transpose was no faster than
        # the NCHW-form one (16 ch at 56×56: 46 vs 27 µs; 32 at 28×28: 26 vs 24 µs), and a 1×1
        # permutation conv beat both for few channels (9 µs / 26 µs). So: NCHW form, conv ≤ 32 ch.
        self.channels_last = False
        self.conv_below = 32 if ctx.target == "tflite" else 0
        self.channels = {k: int(v[1]) for k, v in input_shapes(model, ctx.input_shape, (ChannelShuffle, PermuteChannels)).items()}
        parts = [getattr(model, n, None) for n in ("features", "avgpool", "classifier")]
        if all(isinstance(p, nn.Module) for p in parts) and not isinstance(model, nn.Sequential):
            layout = None
            for p in parts:  # MicroNet / torchvision layout: flatten between avgpool and classifier
                layout = self._chain(p, layout)
            if not _is_identity(layout):  # the classifier ends in something we could not absorb into
                raise RuntimeError("channel layout left at the model output")
        else:
            for seq in self._top_chains(model):
                layout = self._chain(seq, None)
                if not _is_identity(layout):
                    seq.append(PermuteChannels(inverse(layout), self.channels_last, self.conv_below))
        return self.removed

    def _top_chains(self, model):
        if isinstance(model, nn.Sequential):
            return [model]
        found = []

        def visit(m):
            for c in m.children():
                (found.append(c) if isinstance(c, nn.Sequential) else visit(c))
        visit(model)
        return found

    # -- walking ---------------------------------------------------------------------------------
    def _chain(self, container: nn.Module, layout):
        if not (isinstance(container, nn.Sequential) or is_holder(container)):
            return self._leaf(None, None, container, layout)
        for key, child in list(container.named_children()):
            if isinstance(child, nn.Sequential) or is_holder(child):
                layout = self._chain(child, layout)
            elif isinstance(getattr(child, "layers", None), nn.Sequential) and isinstance(getattr(child, "identity", None), bool):
                layout = self._residual(child, layout)
            else:
                layout = self._leaf(container, key, child, layout)
        return layout

    def _residual(self, block, layout):
        layout_out = self._chain(block.layers, layout)
        if not block.identity:
            return layout_out
        c = len(layout_out) if layout_out is not None else (len(layout) if layout is not None else None)
        if c is None:
            return None
        lin = layout if layout is not None else torch.arange(c)
        lout = layout_out if layout_out is not None else torch.arange(c)
        if not torch.equal(lin, lout):
            q = inverse(lout)[lin]
            block.layers.append(PermuteChannels(q, self.channels_last, self.conv_below))
            self.inserted.append(PermuteChannels(q, self.channels_last, self.conv_below).kind)
        return layout

    def _insert_before(self, parent, key, module, q):
        p = PermuteChannels(q, self.channels_last, self.conv_below)
        self.inserted.append(p.kind)
        if parent is None:
            raise RuntimeError("cannot insert a permutation at the top of the model")
        setattr(parent, key, nn.Sequential(p, module))

    @torch.no_grad()
    def _leaf(self, parent, key, m, layout):
        if isinstance(m, (ChannelShuffle, PermuteChannels)):
            c = len(layout) if layout is not None else self.channels.get(id(m))
            if c is None:
                return self._barrier(parent, key, m, layout)
            perm = m.permutation(c) if isinstance(m, ChannelShuffle) else m.perm
            lay = layout if layout is not None else torch.arange(c)
            setattr(parent, key, nn.Identity())
            self.removed += 1
            return inverse(perm)[lay]
        if isinstance(m, nn.Conv2d) and (layout is None or m.in_channels == len(layout)):
            return self._conv(parent, key, m, None if _is_identity(layout) else layout)
        if _is_identity(layout):
            return None
        if isinstance(m, ELEMENTWISE) or (isinstance(m, nn.Sequential) and len(m) == 0):
            return layout
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.num_features == len(layout):
            for t in (m.weight, m.bias, m.running_mean, m.running_var):
                if t is not None:
                    t.data = t.data[layout].clone()
            return layout
        if isinstance(m, StaticShiftMax) and m.channels == len(layout):
            if self.undo_before_shift_max:
                conj = inverse(layout)[m.shift[layout]]
                if len(shift_offsets(conj)) > len(shift_offsets(m.shift)) and \
                        realization(inverse(layout), self.channels_last) in ("slices", "transpose"):
                    return self._barrier(parent, key, m, layout)  # undo the layout: its rolls stay few
            m.permute_channels(layout)
            return layout
        if isinstance(m, nn.Linear) and m.in_features == len(layout):
            m.weight.data = m.weight.data[:, layout].clone()
            return None
        return self._barrier(parent, key, m, layout)

    def _barrier(self, parent, key, m, layout):
        if not _is_identity(layout):
            self._insert_before(parent, key, m, inverse(layout))
        return None

    def _conv(self, parent, key, conv: nn.Conv2d, layout):
        out_layout, _ = self._absorb_input(parent, key, conv, layout)
        return out_layout

    def _absorb_input(self, parent, key, conv: nn.Conv2d, layout):
        """Make `conv` read the layout; returns (output layout, size of freely reorderable output blocks)."""
        g, cin, cout = conv.groups, conv.in_channels, conv.out_channels
        if layout is None:
            return None, cout // g
        w = conv.weight.data
        if g == 1:
            conv.weight.data = w[:, layout].clone()
            return None, cout
        if g == cin:  # depthwise (with channel multiplier m): permute whole output groups
            mult = cout // cin
            out_layout = (layout[:, None] * mult + torch.arange(mult)[None]).reshape(-1)
            conv.weight.data = w[out_layout].clone()
            if conv.bias is not None:
                conv.bias.data = conv.bias.data[out_layout].clone()
            return out_layout, mult
        order = block_order(layout, g)
        if order is None:
            q = self._cheapest_grouping(layout, g)
            self._insert_before(parent, key, conv, q)
            layout = layout[q]
            order = block_order(layout, g)
        bi, bo = cin // g, cout // g
        new_w = torch.empty_like(w)
        out_layout = torch.empty(cout, dtype=torch.long)
        for pb in range(g):
            tb = int(order[pb])
            cols = layout[pb * bi:(pb + 1) * bi] - tb * bi
            new_w[pb * bo:(pb + 1) * bo] = w[tb * bo:(tb + 1) * bo][:, cols]
            out_layout[pb * bo:(pb + 1) * bo] = torch.arange(tb * bo, (tb + 1) * bo)
        conv.weight.data = new_w
        if conv.bias is not None:
            conv.bias.data = conv.bias.data[out_layout].clone()
        return (None if _is_identity(out_layout) else out_layout), bo

    def _cheapest_grouping(self, layout, groups):
        """A position permutation q (t' = t[:, q]) after which every group is whole; cheapest form."""
        from edgekit.rewrite.permute_channels import _grids, grid_matrix

        channels_last = self.channels_last
        c = len(layout)
        size = c // groups
        full = inverse(layout)
        if self.prefer_identity and realization(full, channels_last) != "conv":
            return full  # undo the layout entirely: the Shift-Max layers after it keep their two rolls
        cands = [full, torch.sort(layout // size, stable=True).indices]
        for g in _grids(c):
            q = grid_matrix(c, g)
            if block_order(layout[q], groups) is not None:
                cands.append(q)
        return min(cands, key=lambda q: (realization_cost(q, channels_last), len(runs(q))))
