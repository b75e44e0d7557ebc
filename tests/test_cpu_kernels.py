"""The compiled CPU kernels equal their references, and run where they
should (float32 CPU inference) and nowhere else."""
import logging
import shutil

import pytest
import torch
import torch.nn.functional as F

import mmsparseformer.ops.kernels as ops
from mmsparseformer.models import VideoSparseFormer
from mmsparseformer.ops import (AdaptiveMixing, EarlyConvStem,
                                SparseSampling, TokenAttention, TokenMLP)
from mmsparseformer.ops.attention import attention_kernel
from mmsparseformer.ops.early_conv import early_conv_reference
from mmsparseformer.ops.geometry import sample_trilinear
from mmsparseformer.ops.kernels import kernels_unavailable
from mmsparseformer.ops.mlp import linear_gelu_kernel
from mmsparseformer.ops.sampling import sample_pytorch
from mmsparseformer.testing import MICRO_ARCH, randomise_adaptive_layers

TOL = 1e-5


@pytest.fixture(scope='module')
def kernels():
    """The kernels must build wherever a C++ compiler exists."""
    if ops.load_cpu_kernels():
        return torch.ops.mmsparseformer
    if not ops.enabled() or shutil.which('c++') is None:
        pytest.skip('CPU kernels disabled or no C++ compiler')
    pytest.fail(f'the CPU kernels did not build: {ops.load_error()}')


def max_diff(a, b):
    return (a.double() - b.double()).abs().max().item()


def kernel_calls(fn) -> set:
    """Names of the ``mmsparseformer::`` ops that ``fn()`` ran."""
    with torch.profiler.profile() as prof:
        fn()
    return {event.name for event in prof.events()
            if event.name.startswith('mmsparseformer::')}


@pytest.mark.parametrize('shape', [(2, 3, 1, 32, 32), (1, 3, 5, 24, 40),
                                   (2, 3, 3, 37, 50), (1, 3, 2, 15, 16),
                                   (1, 3, 1, 70, 9)])
def test_early_conv_kernel(kernels, shape):
    """Conv + bias + ReLU + pool + standardisation, odd sizes and T=1."""
    torch.manual_seed(0)
    stem = EarlyConvStem(32)
    stem.init_weights()
    torch.nn.init.normal_(stem.conv.bias, std=0.5)
    clip = torch.randn(shape)
    with torch.no_grad():
        reference = early_conv_reference(clip, stem.conv.weight,
                                         stem.conv.bias)
        out = kernels.early_conv(clip, stem.conv.weight, stem.conv.bias, 1e-5)
    assert out.shape == reference.shape
    assert out.is_contiguous(memory_format=torch.channels_last_3d)
    assert max_diff(out, reference) < TOL
    # float64 recomputation of the definition
    with torch.no_grad():
        stem.double()
        exact = early_conv_reference(clip.double(), stem.conv.weight,
                                     stem.conv.bias)
    assert max_diff(out, exact) < TOL


def test_early_conv_kernel_rejects_bad_input(kernels):
    weight, bias = torch.randn(16, 3, 7, 7), torch.randn(16)
    with pytest.raises(RuntimeError, match=r'\(B, 3, T, H, W\)'):
        kernels.early_conv(torch.randn(1, 4, 2, 16, 16), weight, bias, 1e-5)
    with pytest.raises(RuntimeError, match=r'\(C, 3, 7, 7\)'):
        kernels.early_conv(torch.randn(1, 3, 2, 16, 16),
                           torch.randn(16, 3, 5, 5), bias, 1e-5)
    with pytest.raises(RuntimeError, match='float32'):
        kernels.early_conv(torch.randn(1, 3, 2, 16, 16).double(), weight,
                           bias, 1e-5)


def sdpa(qkv, num_heads):
    batch, tokens, width = qkv.shape
    q, k, v = qkv.view(batch, tokens, 3, num_heads, -1).permute(
        2, 0, 3, 1, 4).unbind(0)
    out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).reshape(batch, tokens, width // 3)


@pytest.mark.parametrize('head_dims', ops.ATTENTION_HEAD_DIMS)
@pytest.mark.parametrize('tokens', [1, 5, 17, 40])
def test_attention_kernel(kernels, head_dims, tokens):
    """Every head size, token counts off the 16-lane tiles."""
    torch.manual_seed(head_dims * 100 + tokens)
    num_heads = 8
    qkv = torch.randn(2, tokens, 3 * num_heads * head_dims) * 2
    out = kernels.token_attention(qkv, num_heads)
    exact = sdpa(qkv.double(), num_heads)
    assert out.shape == (2, tokens, num_heads * head_dims)
    assert max_diff(out, exact) < TOL
    assert max_diff(out, sdpa(qkv, num_heads)) < TOL


def test_attention_kernel_model_size(kernels):
    """392 tokens, 64 heads of dimension 8 (VSF-T's cortex)."""
    torch.manual_seed(1)
    qkv = torch.randn(1, 392, 3 * 512)
    out = attention_kernel(qkv, 64)
    assert max_diff(out, sdpa(qkv.double(), 64)) < TOL


def test_attention_kernel_extreme_scores(kernels):
    """Large logits (a near one-hot softmax) and -87 underflow stay exact."""
    torch.manual_seed(2)
    qkv = torch.randn(1, 33, 3 * 4 * 8) * 12
    out = kernels.token_attention(qkv, 4)
    assert torch.isfinite(out).all()
    assert max_diff(out, sdpa(qkv.double(), 4)) < 1e-4 * qkv.abs().max()


def test_attention_kernel_rejects_bad_input(kernels):
    with pytest.raises(RuntimeError, match='3 \\* heads'):
        kernels.token_attention(torch.randn(1, 4, 10), 4)
    with pytest.raises(RuntimeError, match='head dimension 3'):
        kernels.token_attention(torch.randn(1, 4, 3 * 4 * 3), 4)


def make_mixing(embed_dims=64, channels=32, num_points=12):
    torch.manual_seed(3)
    mixing = AdaptiveMixing(embed_dims, channels, num_points)
    mixing.init_weights()
    # trained-like: the generator depends on the token
    torch.nn.init.normal_(mixing.fc2.weight, std=0.05)
    torch.nn.init.normal_(mixing.channel_bias, std=0.1)
    torch.nn.init.normal_(mixing.point_bias, std=0.1)
    return mixing.eval()


@pytest.mark.parametrize('volume', [(2, 32, 1, 8, 8), (1, 32, 5, 6, 10),
                                    (2, 16, 3, 7, 4)])
@pytest.mark.parametrize('tokens', [3, 70])
def test_sample_mix_kernel(kernels, volume, tokens):
    """Sampling + mixing == grid_sample sampling + AdaptiveMixing, with
    points outside the volume and token counts off the blocks."""
    batch, channels = volume[:2]
    mixing = make_mixing(channels=channels)
    torch.manual_seed(4)
    feats = torch.randn(volume)
    # 30 % of the points outside [0, 1]: zeros padding
    points = torch.rand(batch, tokens, 12, 3) * 1.4 - 0.2
    token_states = torch.randn(batch, tokens, 64)
    with torch.no_grad():
        reference = mixing(sample_trilinear(feats, points), token_states)
        fused = mixing.forward_kernel(feats, points, token_states)
        exact = mixing.double()(
            sample_trilinear(feats.double(), points.double()),
            token_states.double())
    assert fused.shape == reference.shape == (batch, tokens, 64)
    assert max_diff(fused, reference) < TOL
    assert max_diff(fused, exact) < TOL


def test_sample_mix_kernel_odd_parameter_count(kernels):
    """33 points: P' * P = 1089 mixing parameters, off the vector width."""
    mixing = make_mixing(channels=16, num_points=33)
    assert (16 * 16 + mixing.out_points * 33) % ops.VECTOR_LANES
    torch.manual_seed(10)
    feats = torch.randn(1, 16, 3, 6, 5)
    points = torch.rand(1, 7, 33, 3)
    token_states = torch.randn(1, 7, 64)
    with torch.no_grad():
        fused = mixing.forward_kernel(feats, points, token_states)
        exact = mixing.double()(
            sample_trilinear(feats.double(), points.double()),
            token_states.double())
    assert max_diff(fused, exact) < TOL


def test_sample_mix_kernel_rejects_bad_input(kernels):
    mixing = make_mixing()
    feats = torch.randn(1, 32, 2, 8, 8)
    points = torch.rand(1, 5, 12, 3)
    hidden = mixing.fc1(mixing.norm(torch.randn(5, 64))).detach()
    with pytest.raises(RuntimeError, match='generator weight'):
        kernels.sample_mix(feats, points, hidden, mixing.fc2.weight[:-1],
                           mixing.fc2.bias, mixing.channel_bias,
                           mixing.point_bias, True)
    with pytest.raises(RuntimeError, match='multiple of 16'):
        kernels.sample_mix(
            torch.randn(1, 8, 2, 8, 8), points, hidden,
            torch.randn(8 * 8 + 32 * 12, 16), torch.randn(8 * 8 + 32 * 12),
            torch.randn(8), torch.randn(32), True)


@pytest.mark.parametrize('shape', [(1, 7, 24), (2, 392, 64), (5, 33)])
def test_linear_gelu_kernel(kernels, shape):
    """GELU(x W^T + b), exact erf form, over the whole GELU range."""
    torch.manual_seed(8)
    linear = torch.nn.Linear(shape[-1], 48)
    x = torch.randn(shape) * 3
    with torch.no_grad():
        out = linear_gelu_kernel(x, linear.weight, linear.bias)
        reference = F.gelu(linear(x))
        exact = F.gelu(linear.double()(x.double()))
    assert out.shape == reference.shape
    assert max_diff(out, reference) < TOL
    assert max_diff(out, exact) < TOL


def test_linear_gelu_kernel_rejects_bad_input(kernels):
    with pytest.raises(RuntimeError, match='does not fit weight'):
        kernels.linear_gelu(torch.randn(2, 8), torch.randn(16, 9),
                            torch.randn(16))
    with pytest.raises(RuntimeError, match='multiple of 16'):
        kernels.linear_gelu(torch.randn(2, 8), torch.randn(12, 8),
                            torch.randn(12))


def test_dispatch_rules(kernels):
    """Kernels in float32 CPU inference only."""
    weight = torch.randn(4, 4, requires_grad=True)
    plain = torch.randn(4, 4)
    assert 'autograd' in kernels_unavailable(plain, weight)
    with torch.no_grad():
        assert kernels_unavailable(plain, weight) is None
        assert 'float32' in kernels_unavailable(plain.double())
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert 'autocast' in kernels_unavailable(plain)
    with torch.inference_mode():
        assert kernels_unavailable(plain, weight) is None


def test_model_inference_runs_the_kernels_and_matches_the_reference(
        kernels):
    torch.manual_seed(5)
    arch = dict(MICRO_ARCH, conv_channels=32, num_heads=8)
    model = VideoSparseFormer(arch, replicates=2).eval()
    model.init_weights()
    randomise_adaptive_layers(model, 0.05)
    clip = torch.randn(2, 3, 5, 48, 40)
    with torch.no_grad():
        outputs = {}

        def fast():
            outputs['fast'] = model(clip)

        calls = kernel_calls(fast)
        model.impl = 'reference'
        reference = model(clip)
        assert kernel_calls(lambda: model(clip)) == set()
        model.impl = 'auto'
    assert calls == {'mmsparseformer::early_conv',
                     'mmsparseformer::token_attention',
                     'mmsparseformer::sample_mix',
                     'mmsparseformer::linear_gelu'}
    assert max_diff(outputs['fast'], reference) < TOL
    # training keeps to PyTorch ops (autograd), with the same outputs
    model.train()
    with torch.random.fork_rng():
        assert kernel_calls(lambda: model(clip).sum().backward()) == set()


def test_trainable_layers_after_frozen_ones_keep_autograd(kernels):
    """Fine-tuning only one mixing layer: its inputs need no gradient, its
    own parameters do, so it must not run the kernel."""
    torch.manual_seed(9)
    arch = dict(MICRO_ARCH, conv_channels=32, num_heads=8)
    model = VideoSparseFormer(arch, replicates=2)
    model.init_weights()
    model.requires_grad_(False)
    assert model.units[1].samples  # the cortex unit that samples
    trained = model.units[1].sampling.mixing
    trained.requires_grad_(True)
    clip = torch.randn(1, 3, 3, 32, 32)
    model(clip).sum().backward()  # frozen units may run kernels
    grads = {name: param.grad for name, param in trained.named_parameters()}
    trained.zero_grad(set_to_none=True)
    model.impl = 'reference'
    model(clip).sum().backward()
    for name, param in trained.named_parameters():
        assert grads[name] is not None, name
        assert max_diff(grads[name], param.grad) < TOL, name


def test_attention_module_uses_kernel_only_in_inference(kernels):
    torch.manual_seed(6)
    attn = TokenAttention(64, 8)
    tokens = torch.randn(2, 9, 64)
    with torch.no_grad():
        assert kernel_calls(lambda: attn(tokens)) == {
            'mmsparseformer::token_attention'}
        fast = attn(tokens)
        attn.impl = 'reference'
        reference = attn(tokens)
    assert max_diff(fast, reference) < TOL
    attn.impl = 'auto'
    assert kernel_calls(lambda: attn(tokens).sum().backward()) == set()


@pytest.fixture
def fresh_loader_state(monkeypatch):
    """Forget the loaded state for one test, then restore it."""
    saved = dict(ops._state)
    ops._state.update(tried=False, loaded=False, error=None)
    yield
    ops._state.clear()
    ops._state.update(saved)


def test_failed_build_falls_back_to_pytorch(fresh_loader_state, monkeypatch,
                                            capsys):
    def broken_build(verbose):
        raise OSError('no compiler here')

    monkeypatch.setattr(ops, '_build', broken_build)
    assert ops.load_cpu_kernels() is False
    assert 'no compiler here' in ops.load_error()
    captured = capsys.readouterr()
    assert 'could not be built' in captured.err and 'no compiler here' in \
        captured.err
    assert captured.out == ''
    # the model still runs its pure PyTorch fast path
    stem = EarlyConvStem(16)
    clip = torch.randn(1, 3, 2, 16, 16)
    with torch.no_grad():
        assert kernel_calls(lambda: stem(clip)) == set()
        assert max_diff(stem(clip), early_conv_reference(
            clip, stem.conv.weight, stem.conv.bias)) < TOL
    assert ops.load_cpu_kernels() is False  # tried once only


def test_environment_switch_disables_kernels(fresh_loader_state,
                                             monkeypatch):
    monkeypatch.setenv(ops.ENV_SWITCH, '0')
    assert ops.enabled() is False
    assert ops.load_cpu_kernels() is False
    with torch.no_grad():
        assert 'MMSPARSEFORMER_CPU_KERNELS=0' in kernels_unavailable(
            torch.randn(2))


def test_impl_pytorch_runs_no_kernel(kernels):
    clip = torch.randn(1, 3, 2, 16, 16)
    stem = EarlyConvStem(16, impl='pytorch')
    with torch.no_grad():
        assert kernel_calls(lambda: stem(clip)) == set()
        stem.impl = 'auto'
        assert kernel_calls(lambda: stem(clip)) == {
            'mmsparseformer::early_conv'}


def test_library_name_carries_torch_version_and_capability():
    name = ops.library_name()
    assert name.startswith('mmsparseformer_cpu_')
    assert torch.backends.cpu.get_cpu_capability().lower() in name
    assert torch.__version__.split('+')[0].replace('.', '_') in name


def test_pytorch_fast_path_unchanged_without_kernels(fresh_loader_state,
                                                     monkeypatch):
    """With the kernels off the fast path is the PyTorch one (sampler)."""
    monkeypatch.setenv(ops.ENV_SWITCH, '0')
    torch.manual_seed(7)
    feats = torch.randn(1, 16, 3, 6, 6)
    points = torch.rand(1, 4, 5, 3)
    stem = EarlyConvStem(16)
    with torch.no_grad():
        assert max_diff(sample_pytorch(feats, points),
                        sample_trilinear(feats, points)) < TOL
        assert kernel_calls(
            lambda: stem(torch.randn(1, 3, 1, 16, 16))) == set()


def test_impl_kernels_is_strict(kernels):
    """``impl='kernels'`` runs every kernel in inference and says why when
    a call cannot run one (autograd, an unsupported head size)."""
    arch = dict(MICRO_ARCH, conv_channels=32, num_heads=8)
    model = VideoSparseFormer(arch, replicates=2, impl='kernels')
    model.init_weights()
    clip = torch.randn(1, 3, 3, 32, 32)
    with torch.no_grad():
        assert kernel_calls(lambda: model.eval()(clip)) == {
            'mmsparseformer::early_conv', 'mmsparseformer::token_attention',
            'mmsparseformer::sample_mix', 'mmsparseformer::linear_gelu'}
    with pytest.raises(RuntimeError,
                       match="EarlyConvStem: impl='kernels' but .*autograd"):
        model.train()(clip)
    attn = TokenAttention(3 * 64, 3, impl='kernels')  # heads of 64 channels
    with torch.no_grad(), pytest.raises(RuntimeError,
                                        match='heads of 64 channels'):
        attn(torch.randn(1, 4, 3 * 64))


@pytest.mark.parametrize('padding', ['zeros', 'border'])
@pytest.mark.parametrize('mixing_bias', [True, False])
def test_sampling_op_kernel_serves_border_and_no_bias(kernels, padding,
                                                       mixing_bias):
    """The bootstrapped archs' sampling (border padding, no mixing biases)
    runs the kernel with the reference's outputs, points outside the
    volume included."""
    torch.manual_seed(11)
    op = SparseSampling(64, 32, 12, gen_dims=16, mixing_bias=mixing_bias,
                        padding=padding, impl='kernels').eval()
    op.offsets.init_weights()
    op.mixing.init_weights()
    torch.nn.init.normal_(op.offsets.fc.weight, std=0.3)
    torch.nn.init.normal_(op.mixing.fc2.weight, std=0.05)
    feats = torch.randn(2, 32, 3, 6, 7)
    tokens = torch.randn(2, 9, 64)
    rois = torch.rand(2, 9, 6) * 1.6 - 0.3  # tubes beyond the volume too
    with torch.no_grad():
        calls = kernel_calls(lambda: op(tokens, rois, feats))
        fused, points = op(tokens, rois, feats)
        op.impl = 'reference'
        reference, _ = op(tokens, rois, feats)
        op.double()
        exact, _ = op(tokens.double(), rois.double(), feats.double())
    assert calls == {'mmsparseformer::sample_mix'}
    assert ((points < 0) | (points > 1)).any()
    assert max_diff(fused, reference) < TOL
    assert max_diff(fused, exact) < TOL


def test_quick_gelu_mlp_falls_back(kernels):
    """No kernel computes QuickGELU: 'auto' runs PyTorch, 'kernels' says
    why."""
    torch.manual_seed(12)
    mlp = TokenMLP(32, 4, act='quick_gelu').eval()
    tokens = torch.randn(2, 5, 32)
    with torch.no_grad():
        assert kernel_calls(lambda: mlp(tokens)) == set()
        hidden = mlp.fc1(mlp.norm(tokens))
        expected = mlp.fc2(hidden * torch.sigmoid(1.702 * hidden))
        assert max_diff(mlp(tokens), expected) < TOL
        mlp.impl = 'kernels'
        with pytest.raises(RuntimeError, match='quick_gelu activation'):
            mlp(tokens)


def test_first_build_is_announced_at_info_before_the_wait(
        fresh_loader_state, monkeypatch):
    """A build on first use logs one INFO line before compiling."""
    events = []
    monkeypatch.setattr(ops, 'is_built', lambda name=None: False)
    monkeypatch.setattr(
        ops, 'print_log',
        lambda message, logger, level: events.append((level, message)))
    monkeypatch.setattr('torch.utils.cpp_extension.load',
                        lambda *args, **kwargs: events.append('compile'))
    assert ops.load_cpu_kernels() is True
    assert events[1] == 'compile'
    level, message = events[0]
    assert level == logging.INFO
    assert 'building the CPU inference kernels' in message
    assert 'python -m mmsparseformer.ops' in message
    assert '\n' not in message
