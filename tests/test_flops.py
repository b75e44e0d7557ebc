"""FLOP (multiply-accumulate) counting: every op type against hand counts,
on single ops and on a micro VideoSparseFormer; test protocols; the
get_flops tool."""
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config

from mmsparseformer.analysis import count_flops
from mmsparseformer.analysis.flops import matmul_macs
from mmsparseformer.cli import get_flops
from mmsparseformer.models import VideoSparseFormer
from mmsparseformer.testing import MICRO_ARCH
from mmsparseformer.utils.config import read_view_protocol

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MICRO_CONFIG = osp.join(ROOT, 'tests', 'data', 'tools_micro_recognizer.py')


class Lambda(nn.Module):

    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, *args):
        return self.func(*args)


def macs(func, *inputs, **kwargs):
    return count_flops(Lambda(func), inputs, **kwargs)


# ----------------------------------------------------------- single ops
def test_convolution_counts_groups_and_kernel_volume():
    conv = nn.Conv3d(4, 6, (3, 3, 3), padding=1, groups=2)
    count = count_flops(conv, (torch.randn(2, 4, 5, 6, 7), ))
    assert count.by_kind['convolution'] == (2 * 6 * 5 * 6 * 7) * 2 * 27
    assert count.total == count.by_kind['convolution']


def test_linear_counts_every_token():
    count = count_flops(nn.Linear(7, 5), (torch.randn(3, 4, 7), ))
    assert count.by_kind['linear'] == 3 * 4 * 7 * 5


@pytest.mark.parametrize('affine,per_element', [(True, 5), (False, 4)])
def test_layer_norm(affine, per_element):
    norm = nn.LayerNorm(8, elementwise_affine=affine)
    count = count_flops(norm, (torch.randn(3, 5, 8), ))
    assert count.by_kind['normalisation'] == per_element * 3 * 5 * 8


def test_var_mean_standardisation_counts_as_layer_norm_without_affine():
    count = macs(lambda x: torch.var_mean(x, dim=1), torch.randn(2, 6, 5))
    assert count.by_kind['normalisation'] == 4 * 2 * 6 * 5


def test_scaled_dot_product_attention_counts_both_matmuls():
    query = torch.randn(2, 3, 5, 8)
    key = torch.randn(2, 3, 7, 8)
    value = torch.randn(2, 3, 7, 4)
    count = macs(F.scaled_dot_product_attention, query, key, value)
    # q.k^T: 5x8 @ 8x7; weights.v: 5x7 @ 7x4; per batch and head
    assert count.by_kind['attention'] == 2 * 3 * (5 * 8 * 7 + 5 * 7 * 4)
    assert count.total == count.by_kind['attention']


def test_matmul_broadcasts_both_operands():
    # mmengine's default handle would count 6*4*5 = 120 here
    count = macs(torch.matmul, torch.randn(6, 4), torch.randn(2, 3, 4, 5))
    assert count.by_kind['matmul'] == 2 * 3 * 6 * 4 * 5
    assert matmul_macs([4], [4, 5]) == 20
    assert matmul_macs([2, 3, 4], [4]) == 24
    with pytest.raises(ValueError, match='do not match'):
        matmul_macs([3, 4], [5, 6])


def test_bmm_and_baddbmm():
    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    assert macs(torch.bmm, a, b).by_kind['matmul'] == 2 * 3 * 4 * 5
    count = macs(torch.baddbmm, torch.randn(2, 3, 5), a, b)
    assert count.by_kind['matmul'] == 2 * 3 * 4 * 5


@pytest.mark.parametrize('dims,mode,taps', [(3, 'bilinear', 8),
                                            (2, 'bilinear', 4),
                                            (3, 'nearest', 1),
                                            (2, 'bicubic', 16)])
def test_grid_sample_counts_taps_per_output_value(dims, mode, taps):
    volume = torch.randn((2, 5) + (6, ) * dims)
    grid = torch.rand((2, ) + (3, ) * dims + (dims, )) * 2 - 1
    count = macs(lambda v, g: F.grid_sample(v, g, mode=mode,
                                            align_corners=False),
                 volume, grid)
    outputs = 2 * 5 * 3**dims
    assert count.by_kind['sampling'] == taps * outputs
    assert count.by_operator[f'grid_sampler_{dims}d'] == taps * outputs


def test_embedding_bag_gather_counts_one_mac_per_gathered_element():
    table = torch.randn(50, 6)
    rows = torch.randint(0, 50, (7, 8))
    weights = torch.rand(7, 8)
    count = macs(
        lambda t, r, w: F.embedding_bag(
            r, t, per_sample_weights=w, mode='sum'), table, rows, weights)
    assert count.by_kind['sampling'] == 7 * 8 * 6
    # an 8-corner gather is trilinear: 4 taps per value in fvcore's count
    assert count.sampler_as_bilinear == 7 * 4 * 6


def test_uncounted_ops_are_listed():
    count = macs(lambda x: F.gelu(x) + x.softmax(-1), torch.randn(3, 4))
    assert count.total == 0
    assert {'gelu', 'softmax', 'add'} <= set(count.uncounted)


# ------------------------------------------------- attribution of matmuls
class ToyAttention(nn.Module):
    """Attention written with explicit matmuls."""

    def forward(self, x):
        weights = (x @ x.transpose(-2, -1)).softmax(-1)
        return weights @ x


class AdaptiveMixing(nn.Module):
    """Same class name as the model's mixing: its matmuls are mixing."""

    def forward(self, x, mix):
        return x @ mix


class Toy(nn.Module):

    def __init__(self):
        super().__init__()
        self.attention = ToyAttention()
        self.mixing = AdaptiveMixing()

    def forward(self, x, mix, other):
        y = self.attention(x)
        y = self.mixing(y, mix)
        return y @ other


def test_matmuls_are_attributed_by_the_module_they_run_in():
    x, mix, other = torch.randn(2, 5, 4), torch.randn(4, 3), torch.randn(3, 6)
    count = count_flops(Toy(), (x, mix, other))
    assert count.by_kind['attention'] == 2 * (5 * 4 * 5 + 5 * 5 * 4)
    assert count.by_kind['mixing'] == 2 * 5 * 4 * 3
    assert count.by_kind['matmul'] == 2 * 5 * 3 * 6
    assert count.total == sum(count.by_kind.values())


# ----------------------------------------------- micro VideoSparseFormer
def hand_count(arch, replicates, frames, height, width, num_classes=None):
    """MACs per kind of one clip, from the model's definition
    (docs/model.md, "Units and ops" and "FLOP conventions")."""
    channels, points = arch['conv_channels'], arch['num_points']
    focus, cortex = arch['focus_dims'], arch['cortex_dims']
    tokens = arch['num_tokens'] * replicates
    out_points = max(points, 32)
    counts = dict.fromkeys(('convolution', 'linear', 'normalisation',
                            'attention', 'mixing', 'matmul', 'sampling',
                            'other'), 0)
    # early conv 7x7/2 on every frame, then the channel standardisation
    counts['convolution'] = frames * (height // 2) * (width // 2) * \
        channels * 3 * 7 * 7
    counts['normalisation'] = 4 * frames * channels * (height // 4) * \
        (width // 4)
    applications = [(focus, 0 in arch['sampling_units'])] * \
        arch['focus_repeats'] + [(cortex, unit in arch['sampling_units'])
                                 for unit in range(1,
                                                   arch['cortex_depth'] + 1)]
    for dims, sampling in applications:
        hidden = int(dims * arch['mlp_ratio'])
        counts['linear'] += tokens * dims * 3 * dims + tokens * dims * dims
        counts['linear'] += 2 * tokens * dims * hidden
        counts['attention'] += 2 * tokens * tokens * dims
        counts['normalisation'] += 2 * 5 * tokens * dims  # attn, mlp norms
        if sampling:
            counts['linear'] += tokens * dims * (6 + 3 * points)  # roi, offs
            counts['linear'] += tokens * dims * (dims // 4) + tokens * (
                dims // 4) * (channels**2 + out_points * points)  # mixing gen
            counts['linear'] += tokens * out_points * channels * dims
            counts['normalisation'] += 3 * 5 * tokens * dims
            counts['mixing'] += tokens * (points * channels**2 +
                                          out_points * points * channels)
            counts['sampling'] += 8 * tokens * points * channels
    counts['linear'] += tokens * focus * cortex  # transition
    counts['normalisation'] += 5 * tokens * cortex
    if num_classes:
        counts['linear'] += cortex * num_classes
        counts['normalisation'] += 5 * cortex
    return counts


def micro_backbone(impl='auto'):
    return VideoSparseFormer(MICRO_ARCH, replicates=2, impl=impl).eval()


@pytest.mark.parametrize('impl', ['auto', 'reference'])
def test_micro_model_matches_hand_count_for_every_kind(impl):
    """The fast path (channels-last 2D stem, embedding_bag sampler, fused
    baddbmm mixing) and the reference path (3D conv, grid_sample) run other
    aten ops for the same maths: both match the hand count."""
    count = count_flops(
        micro_backbone(impl), torch.randn(1, 3, 4, 32, 32))
    expected = hand_count(MICRO_ARCH, 2, 4, 32, 32)
    assert count.by_kind == expected
    assert count.total == sum(expected.values())
    # the sampler is counted as trilinear, the mixing matmuls are counted
    assert count.by_kind['sampling'] > 0 and count.by_kind['mixing'] > 0
    assert count.paper_comparable == count.total - expected['mixing'] - \
        expected['sampling'] // 2
    assert count.fvcore_default == count.paper_comparable - \
        expected['attention']
    assert count.params == sum(
        p.numel() for p in micro_backbone().parameters())


def test_token_cost_does_not_depend_on_the_frame_size():
    small = count_flops(micro_backbone(), torch.randn(1, 3, 4, 32, 32))
    large = count_flops(micro_backbone(), torch.randn(1, 3, 4, 64, 64))
    for kind in ('linear', 'attention', 'mixing', 'sampling'):
        assert small.by_kind[kind] == large.by_kind[kind]
    assert large.by_kind['convolution'] == 4 * small.by_kind['convolution']


def test_count_is_robust_to_an_attention_rewritten_with_matmuls(monkeypatch):
    """A faster (or slower) implementation with other aten ops for the same
    maths counts the same."""
    model = micro_backbone()
    clip = torch.randn(1, 3, 4, 32, 32)
    reference = count_flops(model, clip)

    def explicit_attention(query, key, value, *args, **kwargs):
        weights = (query @ key.transpose(-2, -1)) * query.shape[-1]**-0.5
        return weights.softmax(-1) @ value

    monkeypatch.setattr(F, 'scaled_dot_product_attention',
                        explicit_attention)
    rewritten = count_flops(model, clip)
    assert 'scaled_dot_product_attention' not in rewritten.by_operator
    assert rewritten.by_kind == reference.by_kind


# ---------------------------------------------------------- protocols
def protocol_cfg(*steps, model_type='Recognizer3D'):
    return Config(
        dict(
            model=dict(type=model_type),
            test_dataloader=dict(dataset=dict(pipeline=list(steps)))))


def test_protocol_of_a_three_crop_pipeline():
    cfg = protocol_cfg(
        dict(type='SampleFrames', clip_len=32, num_clips=4, test_mode=True),
        dict(type='Resize', scale=(-1, 224)),
        dict(type='ThreeCrop', crop_size=224))
    protocol = read_view_protocol(cfg)
    assert (protocol.shape, protocol.views) == ((32, 224, 224), 12)
    assert read_view_protocol(cfg, (8, 64, 96)).shape == (8, 64, 96)


def test_protocol_variants():
    ten_crop = protocol_cfg(
        dict(type='SampleFrames', clip_len=8, num_clips=1,
             twice_sample=True),
        dict(type='TenCrop', crop_size=(160, 128)))
    protocol = read_view_protocol(ten_crop)
    assert protocol.views == 20 and protocol.shape == (8, 128, 160)
    tsn = protocol_cfg(
        dict(type='SampleFrames', clip_len=1, num_clips=25, test_mode=True),
        dict(type='TenCrop', crop_size=224),
        model_type='Recognizer2D')
    protocol = read_view_protocol(tsn)
    assert (protocol.views, protocol.clip_len) == (10, 25)
    dense = protocol_cfg(
        dict(type='DenseSampleFrames', clip_len=1, num_clips=8,
             test_mode=True), dict(type='CenterCrop', crop_size=224),
        model_type='Recognizer2D')
    assert read_view_protocol(dense).views == 10
    fixed = protocol_cfg(
        dict(type='SampleFrames', clip_len=4),
        dict(type='Resize', scale=(48, 40), keep_ratio=False))
    assert read_view_protocol(fixed).shape == (4, 40, 48)


def test_protocol_errors_name_the_problem():
    no_crop = protocol_cfg(
        dict(type='SampleFrames', clip_len=4),
        dict(type='Resize', scale=(-1, 224)))
    with pytest.raises(KeyError, match='--shape'):
        read_view_protocol(no_crop)
    with pytest.raises(KeyError, match='frame sampler'):
        read_view_protocol(protocol_cfg(dict(type='CenterCrop', crop_size=8)))
    with pytest.raises(KeyError, match='no test pipeline'):
        read_view_protocol(Config(dict(model=dict())))


def test_protocol_of_mmaction_swin_config():
    from mmsparseformer.analysis.benchmark import (MMACTION_CONFIGS,
                                                   mmaction_config_path)
    cfg = Config.fromfile(mmaction_config_path(MMACTION_CONFIGS['Swin-T']))
    protocol = read_view_protocol(cfg)
    assert (protocol.shape, protocol.num_clips, protocol.num_crops) == \
        ((32, 224, 224), 4, 3)


# ------------------------------------------------------------- the tool
def test_get_flops_tool_on_micro_config(tmp_path, capsys):
    out = tmp_path / 'flops.json'
    assert get_flops.main([MICRO_CONFIG, '--json', str(out)]) == 0
    printed = capsys.readouterr().out
    for text in ('trilinear', 'adaptive-mixing', 'paper-comparable',
                 '2 clips x 3 crops = 6 views', 'Per module',
                 'backbone.units.0'):
        assert text in printed
    report = json.loads(out.read_text())
    expected = hand_count(MICRO_ARCH, 2, 4, 32, 32, num_classes=5)
    assert report['gflops_per_view'] * 1e9 == pytest.approx(
        sum(expected.values()), rel=1e-9)
    assert report['views'] == 6
    assert report['input_shape'] == [1, 3, 4, 32, 32]
    assert report['paper'] is None


def test_get_flops_tool_shape_override(tmp_path):
    out = tmp_path / 'flops.json'
    assert get_flops.main(
        [MICRO_CONFIG, '--shape', '2', '16', '16', '--json',
         str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['input_shape'] == [1, 3, 2, 16, 16]
    expected = hand_count(MICRO_ARCH, 2, 2, 16, 16, num_classes=5)
    assert report['gflops_per_view'] * 1e9 == pytest.approx(
        sum(expected.values()), rel=1e-9)
