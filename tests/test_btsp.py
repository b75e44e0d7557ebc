"""Bootstrapped SparseFormers (AugReg and CLIP): parity with the official
library, the released checkpoint layouts, exactness at inflation and
gradients of the tube position encoding."""
import math

import pytest
import torch

from mmsparseformer.checkpoint_io import CheckpointError
from mmsparseformer.models import SparseFormerHead, VideoSparseFormer
from mmsparseformer.models.checkpoint import (check_shapes,
                                              convert_state_dict,
                                              load_backbone_checkpoint,
                                              load_head_checkpoint)
from mmsparseformer.models.conversion import (convert_official_checkpoint,
                                              infer_official_arch)
from sparseformer_refs import (btsp_fixture_arch, btsp_head,
                               build_btsp_reference_model, head_output,
                               random_official_image_state)

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
