"""Every PyTorch implementation equals its reference, forward and
gradients; the model-wide ``impl`` switch reaches every op."""
import pytest
import torch

from mmsparseformer.models import VideoSparseFormer
from mmsparseformer.ops import MultiImplOp
from mmsparseformer.ops.early_conv import EarlyConvStem, early_conv_pytorch
from mmsparseformer.ops.geometry import sample_trilinear
from mmsparseformer.ops.sampling import sample_pytorch
from mmsparseformer.testing import MICRO_ARCH, randomise_adaptive_layers

SHAPES = [(2, 3, 1, 32, 32), (1, 3, 5, 24, 40), (2, 3, 4, 36, 20)]
TOL = 1e-5


def max_diff(a, b):
    return (a - b).abs().max().item()


@pytest.mark.parametrize('shape', SHAPES)
def test_early_conv(shape):
    torch.manual_seed(0)
    stem = EarlyConvStem(16)
    stem.init_weights()
    clip = torch.randn(shape, requires_grad=True)
    stem.impl = 'reference'
    reference = stem(clip)
    # a random upstream gradient: sum(x^2) of standardised channels is
    # nearly constant, which would make the comparison ill-conditioned
    upstream = torch.randn(reference.shape)
    grads_ref = torch.autograd.grad((reference * upstream).sum(),
                                    [clip, stem.conv.weight, stem.conv.bias])
    fast = early_conv_pytorch(clip, stem.conv.weight, stem.conv.bias)
    assert fast.shape == reference.shape == (shape[0], 16, shape[2],
                                             shape[3] // 4, shape[4] // 4)
    assert fast.is_contiguous(memory_format=torch.channels_last_3d)
    assert max_diff(fast, reference) < TOL
    grads = torch.autograd.grad((fast * upstream).sum(),
                                [clip, stem.conv.weight, stem.conv.bias])
    for ours, theirs in zip(grads, grads_ref):
        assert max_diff(ours, theirs) < TOL * max(1, theirs.abs().max())


@pytest.mark.parametrize('shape', [(2, 8, 1, 6, 6), (1, 4, 5, 7, 3),
                                   (2, 3, 4, 5, 9)])
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('padding', ['zeros', 'border'])
def test_sampler(shape, channels_last, padding):
    torch.manual_seed(0)
    features = torch.randn(shape)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last_3d)
    features.requires_grad_(True)
    points = (torch.rand(shape[0], 5, 7, 3) * 1.4 - 0.2).requires_grad_(True)
    upstream = torch.randn(shape[0], 5, 7, shape[1])
    reference = sample_trilinear(features, points, padding)
    ref_grads = torch.autograd.grad((reference * upstream).sum(),
                                    [features, points])
    fast = sample_pytorch(features, points, padding)
    assert max_diff(fast, reference) < TOL
    grads = torch.autograd.grad((fast * upstream).sum(), [features, points])
    for ours, theirs in zip(grads, ref_grads):
        assert max_diff(ours, theirs) < TOL * max(1, theirs.abs().max())


def test_sampler_gradcheck():
    torch.manual_seed(0)
    features = torch.randn(1, 2, 3, 4, 5, dtype=torch.float64,
                           requires_grad=True)
    points = (torch.rand(1, 2, 3, 3, dtype=torch.float64) * 0.8 + 0.1)
    assert torch.autograd.gradcheck(sample_pytorch,
                                    (features, points.requires_grad_(True)))


@pytest.mark.parametrize('shape', SHAPES)
def test_whole_model(shape):
    torch.manual_seed(0)
    model = VideoSparseFormer(MICRO_ARCH, replicates=2)
    model.init_weights()
    # make the adaptive geometry non-trivial
    randomise_adaptive_layers(model, {'offsets.fc.weight': 0.1,
                                      'roi_adjust.fc.weight': 0.05})
    clip = torch.randn(shape)
    outputs = {}
    for fast in (False, True):
        model.impl = 'auto' if fast else 'reference'
        model.zero_grad()
        tokens = model(clip)
        (tokens * tokens).sum().backward()
        outputs[fast] = (tokens.detach(), {
            name: p.grad.clone()
            for name, p in model.named_parameters()
        })
    assert max_diff(outputs[True][0], outputs[False][0]) < TOL
    for name, grad in outputs[False][1].items():
        scale = max(1., grad.abs().max().item())
        assert max_diff(outputs[True][1][name], grad) < TOL * scale, name


def test_impl_switch_reaches_every_op():
    model = VideoSparseFormer(MICRO_ARCH, replicates=2, impl='reference')
    ops = [m for m in model.modules() if isinstance(m, MultiImplOp)]
    # the stem, and per unit attention + MLP, plus sampling in two units
    assert len(ops) == 1 + 2 * len(model.units) + 2
    assert model.impl == 'reference'
    assert {op.impl for op in ops} == {'reference'}
    model.impl = 'pytorch'
    assert {op.impl for op in ops} == {'pytorch'}
    with pytest.raises(ValueError, match="impl='fast' is not"):
        model.impl = 'fast'
    with pytest.raises(ValueError, match="impl='fast' is not"):
        VideoSparseFormer(MICRO_ARCH, impl='fast')
