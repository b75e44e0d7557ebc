"""Parity with the official SparseFormer library (reference fixture)."""
import pytest
import torch

from mmsparseformer.models.checkpoint import inflate_image_state
from sparseformer_refs import build_reference_model

TOL = 1e-5
IMAGE_AXES = [0, 1, 3, 4]  # (x1, y1, x2, y2) of a tube


def run(backbone, head, clip):
    with torch.no_grad():
        trace = backbone.forward_trace(clip)
        return trace, head(trace['tokens'])


def assert_close(actual, expected, name):
    diff = (actual - expected).abs().max().item()
    assert diff < TOL, f'{name}: max diff {diff:.3g}'


@pytest.mark.parametrize('impl', ['reference', 'auto'])
def test_image_model(official_reference, impl):
    """The video model with R=1 on a 1-frame clip is the image model."""
    ref = official_reference['image']
    backbone, head = build_reference_model(official_reference,
                                           ref['state_dict'], replicates=1)
    backbone.impl = impl
    trace, logits = run(backbone, head, ref['input'].unsqueeze(2))
    assert_close(trace['tokens'], ref['tokens'], 'tokens')
    assert_close(trace['rois'][..., IMAGE_AXES], ref['final_rois'], 'rois')
    assert len(trace['unit_rois']) == len(ref['hidden_rois'])
    for i, (ours, theirs) in enumerate(
            zip(trace['unit_rois'], ref['hidden_rois'])):
        assert_close(ours[..., IMAGE_AXES], theirs, f'hidden rois {i}')
    # the time axis of a 1-frame model stays the whole clip
    assert torch.allclose(trace['rois'][..., [2, 5]],
                          torch.tensor([0., 1.]).expand(2, 16, 2))
    assert_close(logits, ref['logits'], 'logits')


@pytest.mark.parametrize('case', ['inflated', 'video'])
@pytest.mark.parametrize('impl', ['reference', 'auto'])
def test_video_model(official_reference, case, impl):
    ref = official_reference[case]
    backbone, head = build_reference_model(
        official_reference, ref['state_dict'],
        official_reference['inflated']['replicates'])
    backbone.impl = impl
    trace, logits = run(backbone, head, ref['input'])
    assert_close(trace['tokens'], ref['tokens'], 'tokens')
    assert_close(trace['rois'], ref['final_rois'], 'rois')
    for i, (ours, theirs) in enumerate(
            zip(trace['unit_rois'], ref['hidden_rois'])):
        assert_close(ours, theirs, f'hidden rois {i}')
    assert_close(logits, ref['logits'], 'logits')


def test_static_clip(official_reference):
    ref = official_reference['inflated']
    backbone, head = build_reference_model(official_reference,
                                           ref['state_dict'],
                                           ref['replicates'])
    trace, logits = run(backbone, head, ref['static_input'])
    assert_close(trace['tokens'], ref['static_tokens'], 'static tokens')
    assert_close(logits, ref['static_logits'], 'static logits')
    # and the inflated model on a static clip is the image model
    assert_close(logits, official_reference['image']['logits'],
                 'static vs image logits')


def test_inflation_matches_official(official_reference):
    """Our inflation of the image weights is the official inflation."""
    ours = inflate_image_state(official_reference['image']['state_dict'],
                               official_reference['inflated']['replicates'])
    theirs = official_reference['inflated']['state_dict']
    assert list(ours) == list(theirs)
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key


def test_video_fixture_moves_in_time(official_reference):
    """The video case really exercises temporal geometry."""
    ref = official_reference['video']
    times = ref['final_rois'][..., [2, 5]]
    static = official_reference['inflated']['final_rois'][..., [2, 5]]
    assert (times - static).abs().max() > 0.05
