"""Bootstrapped SparseFormers (AugReg and CLIP): parity with the official
library, the released checkpoint layouts, exactness at inflation and
gradients of the tube position encoding."""
import copy
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmaction.registry import MODELS

from mmsparseformer.checkpoint_io import CheckpointError
from mmsparseformer.models import SparseFormerHead, VideoSparseFormer
from mmsparseformer.models.checkpoint import (check_shapes,
                                              convert_state_dict,
                                              load_backbone_checkpoint,
                                              load_head_checkpoint)
from mmsparseformer.models.conversion import (convert_official_checkpoint,
                                              infer_official_arch)
from mmsparseformer.testing import write_random_videos
from mmsparseformer.utils.config import model_cfg_without_weights
from sparseformer_refs import (btsp_fixture_arch, btsp_head,
                               build_btsp_reference_model, head_output,
                               random_official_image_state)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOL = 1e-5
IMAGE_AXES = [0, 1, 3, 4]  # (x1, y1, x2, y2) of a tube
CASES = ['augreg_style', 'clip_style']
#: The releases: arch name and key-file entries.
RELEASES = {
    'btsp-augreg-base': 'augreg_base',
    'btsp-augreg-large': 'augreg_large',
    'btsp-clip-base': 'openai_clip_base',
    'btsp-clip-large': 'openai_clip_large',
}


def max_diff(a, b):
    return (a.double() - b.double()).abs().max().item()


def meta_state(keys: dict) -> dict:
    """A state dict of the key file's shapes that allocates nothing."""
    return {k: torch.empty(s, device='meta') for k, s in keys.items()}


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('impl', ['reference', 'auto'])
def test_parity_with_the_official_image_model(btsp_reference, case, impl):
    """T = 1, one replicate: tokens (class token first), final and per-unit
    boxes and the outputs of the official image class, within 1e-5."""
    ref = btsp_reference[case]
    backbone, head = build_btsp_reference_model(btsp_reference, case,
                                                ref['state_dict'])
    backbone.impl = impl
    with torch.no_grad():
        trace = backbone.forward_trace(ref['input'].unsqueeze(2))
        outputs = head_output(head, trace['tokens'])
    assert trace['tokens'].shape == ref['tokens'].shape  # class token first
    assert max_diff(trace['tokens'], ref['tokens']) < TOL
    assert max_diff(trace['rois'][..., IMAGE_AXES], ref['final_rois']) < TOL
    assert len(trace['unit_rois']) == len(ref['hidden_rois'])
    for ours, theirs in zip(trace['unit_rois'], ref['hidden_rois']):
        assert max_diff(ours[..., IMAGE_AXES], theirs) < TOL
    assert max_diff(outputs, ref['logits']) < TOL


@pytest.mark.parametrize('arch', list(RELEASES))
@pytest.mark.parametrize('kind', ['image', 'video'])
def test_release_layouts_fit_their_arch_exactly(btsp_keys, arch, kind):
    """Every key of the four releases, image and official video (8
    replicates), has one counterpart of the same shape, and every
    parameter of the arch is filled (the temporal position-encoding term,
    absent from official files, with zeros)."""
    name = f'btsp_{kind}_{RELEASES[arch]}' + (
        '_replicates8' if kind == 'video' else '')
    state = meta_state(btsp_keys[name])
    assert infer_official_arch(state)['name'] == arch
    with torch.device('meta'):
        backbone = VideoSparseFormer(arch, replicates=8)
        clip = arch.startswith('btsp-clip')
        head = SparseFormerHead(
            1000, backbone.embed_dims, pool='cls', norm_eps=1e-5,
            proj_dims=state['proj.weight'].shape[0] if clip else None)
    converted = convert_state_dict(state, backbone, name)
    assert converted['unknown'] == []
    own = backbone.state_dict()
    assert set(converted['backbone']) == set(own)
    for key, value in converted['backbone'].items():
        assert value.shape == own[key].shape, key
    zero_init = [k for k in own if k.endswith('pe_inject.time_fc.weight')]
    assert len(zero_init) == 2  # the two sampling units
    expected_head = {'norm.weight', 'norm.bias'} | (
        {'proj.weight'} if clip else {'fc_cls.weight', 'fc_cls.bias'})
    assert set(converted['head']) == expected_head
    for key, value in converted['head'].items():
        assert value.shape == head.state_dict()[key].shape, key


def test_wrong_arch_errors_name_the_arch_and_keys(btsp_keys):
    large = meta_state(btsp_keys['btsp_image_openai_clip_large'])
    with torch.device('meta'):
        base = VideoSparseFormer('btsp-clip-base', replicates=2)
    converted = convert_state_dict(large, base, 'clip_large.pth')
    with pytest.raises(CheckpointError,
                       match=r"clip_large.pth: 'initial_rois' has shape "
                       r"\(126, 6\).*\(96, 6\) in VideoSparseFormer\(arch="
                       r"'btsp-clip-base', replicates=2\)"):
        check_shapes(base, converted['backbone'], 'clip_large.pth',
                     "VideoSparseFormer(arch='btsp-clip-base', replicates=2)")
    # same shapes, other family: CLIP weights in an AugReg arch
    clip = meta_state(btsp_keys['btsp_image_openai_clip_base'])
    with torch.device('meta'):
        augreg = VideoSparseFormer('btsp-augreg-base', replicates=2)
    with pytest.raises(CheckpointError,
                       match=r"clip.pth: a CLIP-bootstrapped SparseFormer "
                       r"checkpoint \(proj.weight \(512, 768\), no proj.bias\)"
                       r".*arch='btsp-augreg-base'.*use a btsp-clip-\* arch"):
        convert_state_dict(clip, augreg, 'clip.pth')
    with torch.device('meta'):
        tiny = VideoSparseFormer('tiny', replicates=2)
    with pytest.raises(CheckpointError,
                       match=r"a bootstrapped SparseFormer checkpoint .*"
                       r"arch='tiny'"):
        convert_state_dict(clip, tiny, 'clip.pth')


def test_heads_refuse_a_checkpoint_of_the_other_kind(btsp_reference,
                                                     tmp_path):
    augreg = str(tmp_path / 'augreg.pth')
    clip = str(tmp_path / 'clip.pth')
    torch.save(btsp_reference['augreg_style']['state_dict'], augreg)
    torch.save(btsp_reference['clip_style']['state_dict'], clip)
    clip_head = btsp_head(btsp_reference, 'clip_style')
    with pytest.raises(CheckpointError,
                       match=r'augreg.pth: SparseFormerHead\(in_channels=128, '
                       r'proj_dims=12\) keeps .*CLIP projection.*10-class '
                       r'classifier'):
        load_head_checkpoint(clip_head, augreg)
    augreg_head = btsp_head(btsp_reference, 'augreg_style')
    with pytest.raises(CheckpointError,
                       match=r'clip.pth: the checkpoint ends in a CLIP '
                       r'projection .*set proj_dims=12'):
        load_head_checkpoint(augreg_head, clip)
    backbone = VideoSparseFormer(
        btsp_fixture_arch(btsp_reference, 'clip_style'), replicates=2)
    with pytest.raises(CheckpointError, match='augreg.pth: an AugReg-bootstrapped .*use a btsp-augreg-'):
        load_backbone_checkpoint(backbone, augreg)


def inflated_pair(btsp_reference, case, replicates):
    """The fixture's image model and its inflation to ``replicates``."""
    state = btsp_reference[case]['state_dict']
    image = build_btsp_reference_model(btsp_reference, case, state, 1)
    video = build_btsp_reference_model(btsp_reference, case, state,
                                       replicates)
    return image, video


@pytest.mark.parametrize('case', CASES)
def test_inflated_model_on_a_static_clip_is_the_image_model(
        btsp_reference, case, monkeypatch):
    """Every replicate of a token equals the image token, the class token
    and the outputs equal the image model's -- thanks to the ``log R`` key
    bias of the class token, without which they do not."""
    replicates = 3
    (image, head), (video, _) = inflated_pair(btsp_reference, case,
                                              replicates)
    frame = btsp_reference[case]['input'][:1].unsqueeze(2)
    with torch.no_grad():
        expected = image.forward_trace(frame)['tokens']
        tokens = video(frame.expand(-1, -1, 4, -1, -1))
    num = btsp_reference['arch']['num_latent_tokens']
    assert tokens.shape[1] == 1 + replicates * num
    assert max_diff(tokens[:, 0], expected[:, 0]) < TOL
    copies = tokens[:, 1:].view(1, replicates, num, -1)
    for r in range(replicates):
        assert max_diff(copies[:, r], expected[:, 1:]) < TOL
    with torch.no_grad():
        assert max_diff(head_output(head, tokens),
                        head_output(head, expected)) < TOL
    # the trap: a class token counted once against R copies of the rest
    monkeypatch.setattr(
        video, 'insert_cls_token', lambda tokens: (torch.cat(
            [video.cls_token.expand(tokens.shape[0], 1, -1), tokens],
            dim=1), None))
    with torch.no_grad():
        biased = video(frame.expand(-1, -1, 4, -1, -1))
    assert max_diff(biased[:, 0], expected[:, 0]) > 1e-3


def test_full_clip_base_inflation_is_exact(btsp_keys):
    """btsp-clip-base with random image weights, inflated to 4 replicates,
    on a static clip: the image model's tokens (float64)."""
    state = random_official_image_state(
        btsp_keys['btsp_image_openai_clip_base'])
    models = {}
    for replicates in (1, 4):
        model = VideoSparseFormer('btsp-clip-base', replicates=replicates)
        converted = convert_state_dict(state, model)
        model.load_state_dict(converted['backbone'], strict=True)
        models[replicates] = model.double().eval()
    frame = torch.randn(1, 3, 1, 64, 96, dtype=torch.float64)
    with torch.no_grad():
        image = models[1](frame)
        video = models[4](frame.expand(-1, -1, 4, -1, -1))
    assert image.abs().max() > 1  # not a trivial output
    assert max_diff(video[:, 0], image[:, 0]) < TOL
    copies = video[:, 1:].view(1, 4, 48, 768)
    for r in range(4):
        assert max_diff(copies[:, r], image[:, 1:]) < TOL


def test_gradients_reach_time_encoding_tubes_and_offsets(btsp_reference):
    """On a moving clip the zero-initialised temporal term of the tube
    position encoding, the tubes and the sampling offsets all learn."""
    _, (video, head) = inflated_pair(btsp_reference, 'clip_style', 3)
    video.train()
    torch.manual_seed(0)
    clip = torch.randn(2, 3, 6, 64, 48)
    loss = (head(video(clip)) * torch.randn(2, 12)).sum()
    loss.backward()
    for name in ('units.0.pe_inject.time_fc.weight',
                 'units.1.pe_inject.time_fc.weight', 'initial_rois',
                 'units.0.sampling.offsets.fc.weight',
                 'units.0.sampling.offsets.bias',
                 'units.1.sampling.offsets.fc.weight',
                 'units.0.roi_adjust.fc.weight', 'cls_token',
                 'units.0.stage_embeddings'):
        grad = video.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert video.get_parameter('units.0.pe_inject.time_fc.weight').abs(
    ).sum() == 0  # still zero: inflated


def test_heads_pool_and_project():
    torch.manual_seed(0)
    tokens = torch.randn(2, 5, 16)
    avg = SparseFormerHead(3, 16).eval()
    cls = SparseFormerHead(3, 16, pool='cls', proj_dims=8).eval()
    for head in (avg, cls):
        head.init_weights()
    with torch.no_grad():
        assert torch.allclose(avg(tokens),
                              avg.fc_cls(avg.norm(tokens.mean(dim=1))))
        embedding = cls.proj(cls.norm(tokens[:, 0]))
        assert torch.allclose(cls.embed(tokens), embedding)
        assert torch.allclose(cls(tokens), cls.fc_cls(embedding))
    assert cls.proj.bias is None and cls.fc_cls.in_features == 8
    with pytest.raises(ValueError, match="pool='max'"):
        SparseFormerHead(3, 16, pool='max')


def test_converted_fixture_checkpoint_reproduces_the_official_outputs(
        btsp_reference, tmp_path):
    """convert_official_checkpoint on a bootstrapped file (a custom arch,
    inferred from the shapes) gives an MMAction2 checkpoint that loads and
    computes the official outputs."""
    src = str(tmp_path / 'btsp.pth')
    ref = btsp_reference['augreg_style']
    torch.save({'model': ref['state_dict']}, src)
    converted = convert_official_checkpoint(src, replicates=1)
    assert converted['arch'] == btsp_fixture_arch(btsp_reference,
                                                  'augreg_style')
    state = converted['checkpoint']['state_dict']
    backbone = VideoSparseFormer(converted['arch'], replicates=1).eval()
    head = btsp_head(btsp_reference, 'augreg_style').eval()
    backbone.load_state_dict(
        {k[9:]: v for k, v in state.items() if k.startswith('backbone.')})
    head.load_state_dict(
        {k[9:]: v for k, v in state.items() if k.startswith('cls_head.')})
    with torch.no_grad():
        logits = head(backbone(ref['input'].unsqueeze(2)))
    assert max_diff(logits, ref['logits']) < TOL


def test_key_bias_is_log_replicates():
    model = VideoSparseFormer('btsp-clip-base', replicates=8)
    tokens, bias = model.insert_cls_token(torch.zeros(1, 384, 768))
    assert tokens.shape == (1, 385, 768)
    assert bias[0] == pytest.approx(math.log(8)) and not bias[1:].any()
    assert VideoSparseFormer('btsp-clip-base', replicates=1).insert_cls_token(
        torch.zeros(1, 48, 768))[1] is None


# ------------------------------------------------------------ K400 configs
BTSP_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'recognition', 'videosparseformer',
                       'videosparseformer-btsp-*_8xb8-32x2x1-55e_'
                       'kinetics400-rgb.py')))
#: CLIP's mean and std (x 255), and the Inception ones of the AugReg ViTs.
CLIP_MEAN, CLIP_STD = [122.771, 116.746, 104.094], [68.5, 66.632, 70.323]
INCEPTION = [127.5, 127.5, 127.5]


def load_config(path: str) -> Config:
    cfg = Config.fromfile(path)
    init_default_scope('mmaction')
    return cfg


def test_four_btsp_k400_configs():
    assert [osp.basename(p).split('_')[0] for p in BTSP_CONFIGS] == [
        f'videosparseformer-{arch}' for arch in sorted(RELEASES)]


@pytest.mark.parametrize('path', BTSP_CONFIGS, ids=osp.basename)
def test_btsp_k400_config_values(path):
    """Arch, checkpoint, head and normalisation of the release; the
    protocol of the v1 configs; the UniFormerV2 CLIP fine-tuning recipe."""
    cfg = load_config(path)
    arch = cfg.model.backbone.arch
    assert osp.basename(path).startswith(f'videosparseformer-{arch}_')
    assert cfg.model.backbone.replicates == 8
    release = RELEASES[arch]
    assert f'sparseformer_btsp_{release}.pth' in cfg.pretrained
    assert cfg.model.backbone.pretrained == cfg.pretrained
    head = cfg.model.cls_head
    assert head.init_cfg == dict(type='Pretrained', checkpoint=cfg.pretrained)
    width = VideoSparseFormer.arch_zoo[arch]['cortex_dims']
    assert (head.in_channels, head.pool, head.norm_eps) == (width, 'cls',
                                                           1e-5)
    clip = arch.startswith('btsp-clip')
    assert head.proj_dims == ({'btsp-clip-base': 512,
                               'btsp-clip-large': 768}[arch]
                              if clip else None)
    preprocessor = cfg.model.data_preprocessor
    assert preprocessor.mean == (CLIP_MEAN if clip else INCEPTION)
    assert preprocessor.std == (CLIP_STD if clip else INCEPTION)
    assert head.dropout_ratio == 0.5
    assert cfg.train_cfg.max_epochs == 55
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == (
        'AdamW', 1e-5, 0.05)
    assert cfg.optim_wrapper.clip_grad.max_norm == 20
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR',
                                                     'CosineAnnealingLR']
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=256)
    test = cfg.test_dataloader.dataset.pipeline
    sampler = next(t for t in test if t['type'] == 'SampleFrames')
    assert (sampler.clip_len, sampler.num_clips) == (32, 4)


@pytest.mark.slow
@pytest.mark.parametrize('path', [p for p in BTSP_CONFIGS if '-base_' in p],
                         ids=osp.basename)
def test_btsp_k400_config_trains_one_step_on_generated_clips(path, tmp_path):
    """The config's model (real arch, no weights), optimizer and training
    pipeline (shorter clips, smaller frames) on generated videos: one step
    changes the weights, with no weight decay on norms, biases and the
    token queries and positions. (The large configs inherit these and
    change only the arch, head widths and checkpoint, which
    test_btsp_k400_config_values checks; their models are built and run by
    the metafile test of tests/test_configs.py.)"""
    cfg = load_config(path)
    write_random_videos(str(tmp_path), 2, 400, num_frames=12, size=(72, 96))
    pipeline = copy.deepcopy(cfg.train_pipeline)
    for step in pipeline:
        if step['type'] == 'SampleFrames':
            step.update(clip_len=4, frame_interval=1)
        if step['type'] == 'Resize':
            step['scale'] = (-1, 64) if step.get('keep_ratio', True) \
                else (64, 64)
    pipeline = Compose(pipeline)
    batch = pseudo_collate([
        pipeline(dict(filename=str(tmp_path / f'video_{i}.mp4'), label=i,
                      start_index=0, modality='RGB')) for i in range(2)
    ])
    model = MODELS.build(model_cfg_without_weights(cfg.model))
    model.init_weights()
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    decay = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups
             for p in g['params']}
    for name, param in model.named_parameters():
        no_decay = param.ndim <= 1 or name.endswith(
            ('initial_rois', 'initial_embeddings', 'cls_token',
             'stage_embeddings'))
        assert (decay[id(param)] == 0) == no_decay, name
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = model.train_step(batch, wrapper)
    assert torch.isfinite(losses['loss_cls'])
    for name in ('cls_head.fc_cls.weight', 'backbone.cls_token',
                 'backbone.units.0.sampling.offsets.bias',
                 'backbone.units.2.attn.qkv.weight'):
        assert not torch.equal(before[name], model.get_parameter(name)), name


def test_bootstrapped_arch_dict_errors(btsp_reference):
    arch = btsp_fixture_arch(btsp_reference, 'clip_style')
    with pytest.raises(ValueError, match="arch style 'vit'"):
        VideoSparseFormer(dict(arch, style='vit'))
    with pytest.raises(ValueError, match='exactly one of num_heads'):
        VideoSparseFormer(dict(arch, num_heads=4))
    with pytest.raises(ValueError, match='exactly one of num_heads'):
        VideoSparseFormer(dict(arch, head_dims=None))
    # the class token cannot join before a unit that samples or adjusts
    with pytest.raises(ValueError, match='cls_token_unit=1'):
        VideoSparseFormer(dict(arch, cls_token_unit=1))
    with pytest.raises(ValueError, match='cls_token_unit=9'):
        VideoSparseFormer(dict(arch, cls_token_unit=9))
