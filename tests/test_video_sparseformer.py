"""VideoSparseFormer: shapes, invariants, gradients, errors, registry."""
import math

import pytest
import torch

from mmaction.registry import MODELS
from mmengine.registry import init_default_scope
from mmsparseformer.models import SparseFormerHead, VideoSparseFormer
from mmsparseformer.models.checkpoint import (convert_state_dict,
                                              load_backbone_checkpoint)
from mmsparseformer.testing import (MICRO_ARCH, micro_recognizer_cfg,
                                    randomise_adaptive_layers)
from sparseformer_refs import random_official_image_state


def micro(replicates=2, **kwargs):
    model = VideoSparseFormer(MICRO_ARCH, replicates=replicates, **kwargs)
    model.init_weights()
    return model


@pytest.mark.parametrize('shape', [(2, 3, 1, 32, 32), (1, 3, 5, 32, 32),
                                   (2, 3, 4, 24, 40)])
def test_output_shape_any_t_and_frame_size(shape):
    model = micro().eval()
    trace = model.forward_trace(torch.randn(shape))
    batch = shape[0]
    assert trace['tokens'].shape == (batch, 8, 64)
    assert trace['rois'].shape == (batch, 8, 6)
    apps = trace['applications']
    # focusing unit twice, then the two cortex units once each
    assert [(a['unit'], a['repeat']) for a in apps] == [(0, 0), (0, 1),
                                                        (1, 0), (2, 0)]
    assert apps[0]['points'].shape == (batch, 8, 8, 3)
    assert apps[2]['points'] is not None and apps[3]['points'] is None
    assert torch.isfinite(trace['tokens']).all()


def test_fresh_init_geometry():
    model = micro(replicates=4)
    rois = model.initial_rois.detach()
    # 2x2 grid of half-size boxes, replicate r covers time [r/4, (r+1)/4]
    assert torch.allclose(rois[:4, [0, 1]],
                          torch.tensor([[0., 0.], [0., .5], [.5, 0.],
                                        [.5, .5]]))
    assert torch.allclose(rois[:, 3:5] - rois[:, 0:2], torch.full((16, 2),
                                                                  .5))
    for r in range(4):
        assert torch.allclose(rois[4 * r:4 * (r + 1), [2, 5]],
                              torch.tensor([r / 4, (r + 1) / 4]))
    # the sampling points spread over the tube in space and time
    bias = model.units[0].sampling.offsets.bias.view(-1, 3)
    assert bias[:, 2].unique().numel() == bias.shape[0]


def test_static_clip_inflation_full_tiny(official_keys):
    """On a static clip, the tiny model inflated to 8 tubes computes what
    the image model computes on the frame (random image weights; float64,
    where the property is exact up to rounding)."""
    image_state = random_official_image_state(official_keys['image_tiny'])
    image_model = VideoSparseFormer('tiny', replicates=1).eval()
    video_model = VideoSparseFormer('tiny', replicates=8).eval()
    for model in (image_model, video_model):
        converted = convert_state_dict(image_state, model)
        model.load_state_dict(converted['backbone'], strict=True)
        model.double()
    frame = torch.randn(1, 3, 1, 64, 96, dtype=torch.float64)
    with torch.no_grad():
        image = image_model.forward_trace(frame)
        video = video_model.forward_trace(frame.expand(-1, -1, 8, -1, -1))
    # every replicate of a token equals the image token
    tokens = video['tokens'].view(1, 8, 49, 512)
    assert image['tokens'].abs().max() > 1  # not a trivial output
    for r in range(8):
        assert (tokens[:, r] - image['tokens']).abs().max() < 1e-9
    # boxes follow the image model's boxes, tubes keep their time spans
    for ours, theirs in zip(video['applications'], image['applications']):
        boxes = ours['rois'][0, :, [0, 1, 3, 4]].view(8, 49, 4)
        assert (boxes - theirs['rois'][0, :, [0, 1, 3, 4]]).abs().max() < 1e-9
    spans = video['rois'][0, :, [2, 5]].view(8, 49, 2)
    for r in range(8):
        assert torch.allclose(spans[r], torch.tensor(
            [r / 8, (r + 1) / 8], dtype=torch.float64))


def test_gradients_reach_geometry_and_embeddings():
    torch.manual_seed(0)
    model = micro(drop_path_rate=0.1).train()
    # break the zero init of the adaptive layers so every path is live
    randomise_adaptive_layers(model, {'roi_adjust.fc.weight': 0.05,
                                      'offsets.fc.weight': 0.05})
    tokens = model(torch.randn(2, 3, 4, 32, 32))
    (tokens * torch.randn_like(tokens)).sum().backward()
    for name in ('initial_rois', 'initial_embeddings',
                 'units.0.sampling.offsets.fc.weight', 'units.0.sampling.offsets.bias',
                 'units.0.roi_adjust.fc.weight', 'units.1.sampling.offsets.fc.weight',
                 'units.1.roi_adjust.fc.weight', 'stem.conv.weight'):
        grad = model.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


@pytest.mark.parametrize('arch', ['tiny', 'small', 'base'])
def test_parameter_counts_match_official(official_keys, arch):
    def count(backbone):
        head = SparseFormerHead(1000, backbone.embed_dims)
        return sum(p.numel() for p in backbone.parameters()) + sum(
            p.numel() for p in head.parameters())

    video = sum(
        math.prod(s)
        for s in official_keys[f'video_{arch}_replicates8'].values())
    assert count(VideoSparseFormer(arch, replicates=8)) == video
    # with one replicate: the image model plus its time-axis parameters
    # (t1/t2 of each RoI; per sampling unit the t rows of the offsets and
    # of the RoI adjustment)
    image = sum(math.prod(s) for s in official_keys[f'image_{arch}'].values())
    backbone = VideoSparseFormer(arch, replicates=1)
    settings = backbone.arch_settings
    time_axis = 2 * settings['num_tokens'] + sum(
        (settings['num_points'] + 2) * unit.embed_dims +
        settings['num_points'] for unit in backbone.units if unit.samples)
    assert count(backbone) == image + time_axis


@pytest.mark.parametrize('arch', ['tiny', 'small', 'base'])
def test_official_keys_map_one_to_one(official_keys, arch):
    """Every official key has exactly one counterpart of the same size."""
    state = {
        k: torch.zeros(s)
        for k, s in official_keys[f'video_{arch}_replicates8'].items()
    }
    backbone = VideoSparseFormer(arch, replicates=8)
    converted = convert_state_dict(state, backbone)
    assert not converted['unknown']
    own = backbone.state_dict()
    assert set(converted['backbone']) == set(own)
    for key, value in converted['backbone'].items():
        assert value.shape == own[key].shape, key
    assert set(converted['head']) == {'norm.weight', 'norm.bias',
                                      'fc_cls.weight', 'fc_cls.bias'}


@pytest.mark.parametrize('shape,message', [
    ((3, 4, 32, 32), '4-D tensor'),
    ((1, 1, 4, 32, 32), r'3 \(RGB\) channels'),
    ((1, 3, 4, 30, 32), 'divisible by 4'),
    ((1, 3, 4, 32, 34), 'divisible by 4'),
])
def test_bad_input_errors(shape, message):
    with pytest.raises(ValueError, match=message):
        micro()(torch.randn(shape))


def test_arch_errors():
    arch = dict(MICRO_ARCH)
    del arch['num_points']
    with pytest.raises(KeyError, match='missing.*num_points'):
        VideoSparseFormer(arch)
    with pytest.raises(KeyError, match='Unknown fields.*colour'):
        VideoSparseFormer(dict(MICRO_ARCH, colour=1))
    with pytest.raises(KeyError, match="Unknown VideoSparseFormer arch 'huge'"):
        VideoSparseFormer('huge')
    with pytest.raises(ValueError, match='sampling_units'):
        VideoSparseFormer(dict(MICRO_ARCH, sampling_units=(0, 7)))


def test_autocast_keeps_geometry_float32():
    model = micro()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        trace = model.forward_trace(torch.randn(1, 3, 4, 32, 32))
        head = SparseFormerHead(3, 64)
        loss = head(trace['tokens']).float().sum()
    for app in trace['applications']:
        assert app['rois'].dtype == torch.float32
        if app['points'] is not None:
            assert app['points'].dtype == torch.float32
    assert trace['tokens'].dtype == torch.bfloat16
    loss.backward()
    assert torch.isfinite(model.initial_rois.grad).all()


def test_recognizer_from_registry_trains():
    from mmaction.structures import ActionDataSample
    init_default_scope('mmaction')
    recognizer = MODELS.build(
        micro_recognizer_cfg(num_classes=3, label_smooth_eps=0.1))
    recognizer.init_weights()
    clips = [torch.randint(0, 256, (1, 3, 4, 32, 32), dtype=torch.uint8)
             for _ in range(2)]
    samples = [ActionDataSample().set_gt_label(torch.tensor([i]))
               for i in range(2)]
    data = recognizer.data_preprocessor(
        dict(inputs=clips, data_samples=samples), training=True)
    optimizer = torch.optim.AdamW(recognizer.parameters(), lr=1e-3)
    before = recognizer.backbone.initial_rois.detach().clone()
    losses = recognizer(**data, mode='loss')
    losses['loss_cls'].backward()
    optimizer.step()
    assert torch.isfinite(losses['loss_cls'])
    assert not torch.equal(before, recognizer.backbone.initial_rois)


def test_with_cp_same_loss_and_gradients():
    """Gradient checkpointing recomputes each unit application in the
    backward pass (drop path included) and changes nothing else."""
    model = randomise_adaptive_layers(micro(drop_path_rate=0.3)).train()
    clip = torch.randn(2, 3, 4, 32, 32)
    upstream = torch.randn(2, 8, 64)
    calls = []
    model.units[1].sampling.register_forward_hook(
        lambda *args: calls.append(1))
    results = {}
    for with_cp in (False, True):
        model.with_cp = with_cp
        model.zero_grad()
        calls.clear()
        torch.manual_seed(1)  # the same drop-path masks
        loss = (model(clip) * upstream).sum()
        loss.backward()
        results[with_cp] = (loss.item(), calls.copy(), {
            name: param.grad.clone()
            for name, param in model.named_parameters()
        })
    assert results[True][0] == pytest.approx(results[False][0], abs=1e-6)
    assert len(results[False][1]) == 1 and len(results[True][1]) == 2
    for name, grad in results[False][2].items():
        assert (results[True][2][name] - grad).abs().max() < 1e-6, name
    # eval and no-grad forwards are never checkpointed
    model.eval()
    with torch.no_grad():
        calls.clear()
        model(clip)
    assert len(calls) == 1


def test_frozen_stages():
    model = micro(frozen_stages=1).train()
    frozen = ['stem.', 'initial_rois', 'initial_embeddings', 'units.0.']
    for name, param in model.named_parameters():
        assert param.requires_grad != name.startswith(tuple(frozen)), name
    assert not model.stem.training and not model.units[0].training
    assert model.units[1].training and model.units[2].training
    model.train()  # a runner's train() keeps the frozen part in eval mode
    assert not model.units[0].training
    model(torch.randn(1, 3, 2, 32, 32)).sum().backward()
    for name, param in model.named_parameters():
        assert (param.grad is None) == name.startswith(tuple(frozen)), name
    assert micro(frozen_stages=0).units[0].attn.qkv.weight.requires_grad
    assert not micro(frozen_stages=3).units[2].mlp.fc2.weight.requires_grad
    with pytest.raises(ValueError, match='frozen_stages=4'):
        micro(frozen_stages=4)


def test_checkpoints_of_earlier_releases_load(tmp_path):
    """Keys written before the sampling op owned the offsets and mixing
    (``units.0.offsets.*``) load into ``units.0.sampling.offsets.*``."""
    source = randomise_adaptive_layers(micro())
    legacy = {
        key.replace('.sampling.', '.'): value
        for key, value in source.state_dict().items()
    }
    assert 'units.0.offsets.bias' in legacy
    target = micro()
    target.load_state_dict(dict(legacy), strict=True)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    path = str(tmp_path / 'legacy.pth')
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in legacy.items()}}, path)
    result = load_backbone_checkpoint(micro(), path)
    assert result['missing'] == [] and result['dropped'] == []
