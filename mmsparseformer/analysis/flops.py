"""Multiply-accumulate counting of every op, by op type in the traced graph.

MMAction2's model zoo reports "FLOPs" as multiply-accumulates (MACs) of one
view, counted by mmengine's :class:`~mmengine.analysis.FlopAnalyzer` (the
fvcore jit-trace counter). Its default handles count convolutions, linears,
norms and a 4-tap (bilinear) sampler, but no attention or adaptive-mixing
matmuls. This module adds handles so that every op of VideoSparseFormer is
counted, and groups the counts into kinds:

=============  ===========================================================
kind           how it is counted (MACs)
=============  ===========================================================
convolution    output elements x input channels per group x kernel volume
linear         output elements x input features (bias adds not counted)
normalisation  LayerNorm/GroupNorm: 5 per element with affine, 4 without
               (fvcore); ``var_mean`` (a hand-written standardisation,
               e.g. the stem's channel standardisation): 4 per element
attention      scaled-dot-product attention: ``L*S*E`` (q.k) +
               ``L*S*Ev`` (weights.v) per batch and head; explicit matmuls
               inside attention modules count here too
mixing         matmuls inside adaptive-mixing modules (``S.Mc``, ``Ms.S``):
               ``M*K*N`` per token (broadcast batch dims included)
matmul         any other matmul / bmm / einsum: ``M*K*N`` per batch
sampling       ``grid_sample``: one MAC per interpolation tap per output
               value: trilinear (5-D) 8, bilinear (4-D) 4, bicubic 16,
               nearest 1 (computing the tap weights is not counted);
               ``embedding_bag`` (a gather-based sampler's weighted sum of
               table rows): one MAC per gathered element, so an 8-corner
               trilinear gather counts as ``grid_sample`` does
other          other ops mmengine counts (upsampling, adaptive pooling)
=============  ===========================================================

Element-wise ops, activations, softmax and pooling are not counted (the
MMAction2/fvcore convention); the ops left out are listed by
:attr:`FlopCount.uncounted`. Counting is by op type in the traced graph,
so a faster implementation that keeps the same aten ops counts the same.
"""
import math
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import get_shape
from mmengine.analysis.print_helper import (_format_size,
                                             complexity_stats_table)
from torch import Tensor

from ..apis.recognizer import build_recognizer
from ..models import ClipRecognizer
from ..utils.config import ViewProtocol, load_config, read_view_protocol
from ..utils.markdown import markdown_table

#: How each kind of op is counted, printed beside the counts.
KIND_NOTES = OrderedDict([
    ('convolution', 'out elements x C_in/groups x kernel volume'),
    ('linear', 'out elements x in features (bias not counted)'),
    ('normalisation', 'LN/GN 5 per element (4 w/o affine); var_mean 4'),
    ('attention', 'q.k^T L*S*E + attn.v L*S*Ev per batch x head'),
    ('mixing', 'adaptive-mixing matmuls S.Mc and Ms.S: M*K*N per token'),
    ('matmul', 'other matmuls: M*K*N per batch'),
    ('sampling', 'trilinear sampling: 8 taps per value (grid_sample, '
                 'embedding_bag gather); bilinear 4'),
    ('other', 'other ops mmengine counts (upsampling, pooling)'),
])

#: Op names (as mmengine reports them) that are matrix products.
MATMUL_OPS = ('matmul', 'bmm', 'baddbmm', 'mm', 'einsum')
#: Op names of each kind; matmuls are attributed by the module they run in.
OP_KINDS = {
    'conv': 'convolution',
    'linear': 'linear',
    'addmm': 'linear',
    'layer_norm': 'normalisation',
    'group_norm': 'normalisation',
    'instance_norm': 'normalisation',
    'batch_norm': 'normalisation',
    'var_mean': 'normalisation',
    'scaled_dot_product_attention': 'attention',
    'grid_sampler_2d': 'sampling',
    'grid_sampler_3d': 'sampling',
    'embedding_bag': 'sampling',
    '_embedding_bag': 'sampling',
}
#: Interpolation taps per output value of ``grid_sample``, by
#: ``(spatial dims, interpolation_mode)``; modes 0 bilinear (trilinear in
#: 3-D), 1 nearest, 2 bicubic.
SAMPLER_TAPS = {(2, 0): 4, (2, 1): 1, (2, 2): 16, (3, 0): 8, (3, 1): 1}
#: Module classes whose matmuls are adaptive mixing.
MIXING_MODULES = ('AdaptiveMixing', )


def _prod(values: Sequence[int]) -> int:
    return int(math.prod(int(v) for v in values))


def matmul_macs(shape_a: Sequence[int], shape_b: Sequence[int]) -> int:
    """MACs of ``a @ b`` with NumPy broadcasting of the batch dims."""
    shape_a, shape_b = list(shape_a), list(shape_b)
    if len(shape_a) == 1:
        shape_a = [1] + shape_a
    if len(shape_b) == 1:
        shape_b = shape_b + [1]
    if shape_a[-1] != shape_b[-2]:
        raise ValueError(f'matmul shapes do not match: {shape_a} @ {shape_b}')
    batch = torch.broadcast_shapes(tuple(shape_a[:-2]), tuple(shape_b[:-2]))
    return _prod(batch) * shape_a[-2] * shape_a[-1] * shape_b[-1]


def matmul_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::matmul`` / ``aten::mm`` (mmengine's default ignores the
    broadcast of the second operand's batch dims)."""
    return matmul_macs(get_shape(inputs[0]), get_shape(inputs[1]))


def baddbmm_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::baddbmm(bias, a, b)``: the batched product only."""
    return matmul_macs(get_shape(inputs[1]), get_shape(inputs[2]))


def sdpa_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::scaled_dot_product_attention(q, k, v, ...)``: the two
    matmuls ``q.k^T`` and ``weights.v`` (dense, also when causal)."""
    query, key, value = (get_shape(v) for v in inputs[:3])
    batch = _prod(query[:-2])
    length, source = query[-2], key[-2]
    return batch * length * source * (query[-1] + value[-1])


def grid_sampler_handle(inputs: List[Any], outputs: List[Any]) -> Counter:
    """``aten::grid_sampler(input, grid, mode, padding, align_corners)``:
    taps per output value x output values, reported as ``grid_sampler_2d``
    or ``grid_sampler_3d``."""
    out_shape = get_shape(outputs[0])
    spatial_dims = len(out_shape) - 2
    mode = inputs[2].toIValue() if len(inputs) > 2 else 0
    taps = SAMPLER_TAPS.get((spatial_dims, mode if mode is not None else 0),
                            2**spatial_dims)
    return Counter({f'grid_sampler_{spatial_dims}d': taps * _prod(out_shape)})


def embedding_bag_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::embedding_bag(table, indices, ...)``: a (weighted) sum of
    table rows per bag, one MAC per gathered row element. A gather-based
    interpolation (VideoSparseFormer's fast sampler: 8 corner rows per
    point) counts like ``grid_sample``'s taps."""
    return _prod(get_shape(inputs[1])) * get_shape(inputs[0])[-1]


def var_mean_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """``aten::var_mean``: the statistics of a hand-written normalisation,
    counted as a LayerNorm without affine (4 per input element)."""
    return 4 * _prod(get_shape(inputs[0]))


#: Handles added to (or replacing) mmengine's defaults.
EXTRA_FLOP_HANDLES = {
    'aten::matmul': matmul_handle,
    'aten::mm': matmul_handle,
    'aten::baddbmm': baddbmm_handle,
    'aten::scaled_dot_product_attention': sdpa_handle,
    'aten::grid_sampler': grid_sampler_handle,
    'aten::grid_sampler_2d': grid_sampler_handle,
    'aten::grid_sampler_3d': grid_sampler_handle,
    'aten::var_mean': var_mean_handle,
    'aten::embedding_bag': embedding_bag_handle,
    'aten::_embedding_bag': embedding_bag_handle,
}


def build_flop_analyzer(model: nn.Module,
                        inputs: Union[Tensor, Tuple[Tensor, ...]]
                        ) -> FlopAnalyzer:
    """mmengine's :class:`FlopAnalyzer` with every handle of this module,
    warnings silenced (:class:`FlopCount` lists what is left out)."""
    if isinstance(inputs, Tensor):
        inputs = (inputs, )
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle(**EXTRA_FLOP_HANDLES)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    return analyzer


def _is_attention_module(module: nn.Module) -> bool:
    return isinstance(module, nn.MultiheadAttention) or \
        type(module).__name__.endswith('Attention')


def _top_level(names: List[str]) -> List[str]:
    """Names that have no ancestor among ``names``."""
    chosen: List[str] = []
    for name in sorted(names, key=lambda n: n.count('.')):
        if not any(name.startswith(parent + '.') for parent in chosen):
            chosen.append(name)
    return chosen


@dataclass
class FlopCount:
    """MACs of one forward pass, by kind, operator and module.

    All counts are multiply-accumulates (MMAction2's "FLOPs").
    """
    total: int
    by_kind: Dict[str, int]
    by_operator: Dict[str, int]
    uncounted: Dict[str, int]
    params: int
    input_shape: Tuple[int, ...]
    analyzer: FlopAnalyzer = field(repr=False)

    @property
    def sampler_as_bilinear(self) -> int:
        """The sampling count at 4 taps per value, as fvcore's default
        ``grid_sampler`` handle counts it: 3-D (trilinear, 8-tap) sampling,
        by ``grid_sample`` or by an 8-row ``embedding_bag`` gather, halved.
        """
        trilinear = sum(
            self.by_operator.get(op, 0)
            for op in ('grid_sampler_3d', 'embedding_bag', '_embedding_bag'))
        return trilinear // 2 + self.by_kind['sampling'] - trilinear

    @property
    def paper_comparable(self) -> int:
        """Every op but the mixing matmuls, sampling at 4 taps per value:
        how the SparseFormer paper's figures were counted (``docs/model.md``,
        "FLOP conventions")."""
        return (self.total - self.by_kind['mixing'] -
                self.by_kind['sampling'] + self.sampler_as_bilinear)

    @property
    def fvcore_default(self) -> int:
        """What fvcore's / mmengine's default handles count: the paper
        figure without the attention matmuls."""
        return self.paper_comparable - self.by_kind['attention']

    def kind_table(self) -> str:
        """A text table: kind | MACs/view | share | how it is counted."""
        rows = [('kind', 'MACs/view', 'share', 'how counted')]
        for kind, note in KIND_NOTES.items():
            macs = self.by_kind.get(kind, 0)
            rows.append((kind, _format_size(macs, sig_figs=4),
                         f'{100 * macs / max(self.total, 1):.1f} %', note))
        rows.append(('total', _format_size(self.total, sig_figs=4),
                     '100.0 %', 'every counted op'))
        return markdown_table(rows)

    def module_table(self, max_depth: int = 3) -> str:
        """mmengine's per-module table of parameters and MACs."""
        return complexity_stats_table(
            self.analyzer, max_depth=max_depth, show_param_shapes=False)


def count_flops(model: nn.Module,
                inputs: Union[Tensor, Tuple[Tensor, ...]],
                mixing_modules: Sequence[str] = MIXING_MODULES) -> FlopCount:
    """Trace ``model`` on ``inputs`` and count the MACs of every op.

    Matmul-type ops (matmul, bmm, baddbmm, mm, einsum) are attributed to
    ``attention`` inside modules whose class name ends in ``Attention`` (or
    ``nn.MultiheadAttention``), to ``mixing`` inside modules whose class
    name is in ``mixing_modules``, and to ``matmul`` elsewhere.
    """
    was_training = model.training
    model.eval()
    try:
        analyzer = build_flop_analyzer(model, inputs)
        per_module = analyzer.by_module_and_operator()
        unsupported = analyzer.unsupported_ops()
    finally:
        model.train(was_training)
    by_operator = dict(per_module[''])
    modules = dict(model.named_modules())

    def scoped_matmuls(names: List[str]) -> int:
        return sum(per_module[name][op] for name in _top_level(names)
                   for op in MATMUL_OPS)

    attention_scopes = [
        name for name, module in modules.items()
        if name and _is_attention_module(module)
    ]
    mixing_scopes = [
        name for name, module in modules.items()
        if name and type(module).__name__ in mixing_modules
    ]
    by_kind = OrderedDict((kind, 0) for kind in KIND_NOTES)
    for op, macs in by_operator.items():
        if op not in MATMUL_OPS:
            by_kind[OP_KINDS.get(op, 'other')] += int(macs)
    attention_matmuls = scoped_matmuls(attention_scopes)
    mixing_matmuls = scoped_matmuls(mixing_scopes)
    all_matmuls = sum(by_operator.get(op, 0) for op in MATMUL_OPS)
    by_kind['attention'] += attention_matmuls
    by_kind['mixing'] += mixing_matmuls
    by_kind['matmul'] += all_matmuls - attention_matmuls - mixing_matmuls
    if isinstance(inputs, Tensor):
        inputs = (inputs, )
    return FlopCount(
        total=int(sum(by_operator.values())),
        by_kind=dict(by_kind),
        by_operator={op: int(v)
                     for op, v in by_operator.items()},
        uncounted={
            op.replace('aten::', ''): int(n)
            for op, n in sorted(unsupported.items(), key=lambda kv: -kv[1])
        },
        params=int(parameter_count(model)['']),
        input_shape=tuple(inputs[0].shape),
        analyzer=analyzer)


@dataclass
class RecognizerFlops:
    """The FLOP count of one view of a config's recognizer, with its test
    protocol."""
    count: FlopCount
    protocol: ViewProtocol
    arch: Optional[str] = None

    @property
    def gflops_per_view(self) -> float:
        return self.count.total / 1e9

    @property
    def total_gflops(self) -> float:
        """GMACs over all test views of a video."""
        return self.gflops_per_view * self.protocol.views


def recognizer_flops(config,
                     shape: Optional[Tuple[int, int, int]] = None
                     ) -> RecognizerFlops:
    """Count one view of the config's recognizer (backbone, neck, head).

    Args:
        config (str | Config): An MMAction2 config.
        shape (tuple, optional): ``(T, H, W)``; defaults to the clip and
            crop size of the config's test pipeline.
    """
    cfg = load_config(config)
    protocol = read_view_protocol(cfg, shape)
    model = ClipRecognizer(build_recognizer(cfg))
    clips = torch.randn(1, 3, *protocol.shape)
    with torch.no_grad():
        count = count_flops(model, clips)
    backbone = cfg.model.get('backbone', {})
    arch = backbone.get('arch') if isinstance(backbone.get('arch'),
                                              str) else None
    return RecognizerFlops(count=count, protocol=protocol, arch=arch)
