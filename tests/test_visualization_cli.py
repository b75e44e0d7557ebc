"""Token tubes of real (tiny) recognizers on generated clips: the Python API
and ``tools/visualize_tokens.py``."""
import os.path as osp

import numpy as np
import pytest
import torch

from mmsparseformer.cli import visualize_tokens
from mmsparseformer.testing import MICRO_ARCH, write_video

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MICRO_CONFIG = osp.join(REPO, 'tests', 'data', 'tools_micro_recognizer.py')
FIXTURE = osp.join(REPO, 'tests', 'data', 'official_sparseformer_reference.pt')
NUM_FRAMES = 8
#: Token 0's tube, set by hand: centre half of the input, first half of time.
TUBE = [0.25, 0.25, 0.0, 0.75, 0.75, 0.5]
#: ... in pixels of the original 64x48 frames: Resize(-1, 36) scales by 0.75,
#: CenterCrop(32) starts at (8, 2), so input pixel p -> (p + 8) / 0.75.
TUBE_PIXELS = [16 / .75, 10 / .75, 0.0, 32 / .75, 26 / .75, 0.5]

#: The micro recognizer with 3 classes and a 3 clips x 3 crops test pipeline
#: of 64x48 clips (or another arch).
CONFIG = """
_base_ = [{base!r}]
model = dict(
    backbone=dict(arch=dict(_delete_=True, **{arch!r}), drop_path_rate=None),
    cls_head=dict(num_classes=3, in_channels={dims}))
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len={frames}, frame_interval=1,
         num_clips=3, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='ThreeCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
"""


def nearest_frames(t):
    return np.clip(np.floor(t * NUM_FRAMES), 0, NUM_FRAMES - 1).astype(int)


def write_config(path, arch, dims):
    with open(path, 'w') as f:
        f.write(CONFIG.format(base=MICRO_CONFIG, arch=arch, dims=dims,
                              frames=NUM_FRAMES))
    return str(path)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """A 64x48 clip, a MICRO_ARCH config and a checkpoint of a freshly
    built recognizer whose token 0 has a hand-set tube."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmaction.registry import MODELS
    init_default_scope('mmaction')
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp('vis')
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (NUM_FRAMES, 48, 64, 3), dtype=np.uint8)
    video = write_video(str(root / 'clip.mp4'), frames)
    config = write_config(root / 'micro.py', MICRO_ARCH,
                          MICRO_ARCH['cortex_dims'])
    model = MODELS.build(Config.fromfile(config).model)
    model.backbone.init_weights()  # the recognizer's own would log a table
    model.cls_head.init_weights()
    with torch.no_grad():
        model.backbone.initial_rois[0] = torch.tensor(TUBE)
    checkpoint = str(root / 'micro.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return dict(root=root, video=video, config=config, checkpoint=checkpoint)


@pytest.fixture(scope='module')
def token0(setup):
    from mmsparseformer.visualization import visualize_clip
    return visualize_clip(setup['config'], setup['checkpoint'],
                          setup['video'], tokens=[0], panel_height=None)


def test_tubes_from_the_checkpoint_on_the_original_frames(token0):
    vis, trace = token0, token0.trace
    assert trace.frames.shape == (NUM_FRAMES, 48, 64, 3)
    assert trace.input_hw == (32, 32)
    assert any('ThreeCrop' in note for note in trace.notes)
    assert any('num_clips 3 -> 1' in note for note in trace.notes)
    # every sampling-unit application is a column (the focusing unit twice)
    assert [c['label'] for c in vis.columns] == [
        'unit 0 rep 1/2', 'unit 0 rep 2/2', 'unit 1'
    ]
    assert vis.panels.shape == (NUM_FRAMES, 3, 48, 64, 3)
    # the RoI adjust is zero at init: the hand-set tube stays put
    np.testing.assert_allclose(vis.tubes[:, 0], [TUBE_PIXELS] * 3, atol=1e-4)
    color = tuple(vis.colors[0])
    corners = [(21, 13), (42, 13), (21, 34), (42, 34)]  # first/last pixels
    for c, points in enumerate(vis.points):
        near = nearest_frames(points[0, :, 2])
        for f in range(4):  # t in [0, 0.5]: frames 0..3
            for x, y in corners:
                # a point's dark ring (radius 1 + 1) may cover the box
                dots = np.floor(points[0, near == f, :2]).astype(int)
                covered = (np.abs(dots - [x, y]).max(-1) <= 2).any()
                if not covered:
                    assert tuple(vis.panels[f, c, y, x]) == color, (f, c, x,
                                                                     y)
        for f in (6, 7):  # more than 2 frames away: hidden
            assert tuple(vis.panels[f, c, 13, 21]) != color
    # each sampling point is a dot on its nearest frame
    for c, points in enumerate(vis.points):
        assert points.shape == (1, MICRO_ARCH['num_points'], 3)
        for (x, y, _), f in zip(points[0], nearest_frames(points[0, :, 2])):
            if 0 <= x < 64 and 0 <= y < 48:
                assert tuple(vis.panels[f, c, int(y), int(x)]) == color
    assert vis.animation.shape[0] == NUM_FRAMES
    assert trace.scores.shape == (3, )
    np.testing.assert_allclose(trace.scores.sum(), 1., rtol=1e-5)


def test_choices_of_units_tokens_and_repeats(setup, token0):
    from mmsparseformer.visualization import render_trace
    trace = token0.trace
    vis = render_trace(trace, repeats='last', panel_height=96, max_rows=3)
    assert [c['label'] for c in vis.columns] == ['unit 0 rep 2/2', 'unit 1']
    np.testing.assert_array_equal(vis.tokens, [0, 1, 2, 3])  # group 0
    assert vis.panels.shape == (NUM_FRAMES, 2, 96, 128, 3)
    assert vis.sheet_rows == [0, 4, 7]
    vis = render_trace(trace, units=[1], group=1, panel_height=48)
    np.testing.assert_array_equal(vis.tokens, [4, 5, 6, 7])
    # colours follow the token within its group: token 4 is coloured as 0
    np.testing.assert_array_equal(vis.colors[0], token0.colors[0])
    vis = render_trace(trace, units=[2], panel_height=48)
    assert vis.points == [None]  # a unit that does not sample: boxes only
    with pytest.raises(ValueError, match=r'Units \[5\] do not exist'):
        render_trace(trace, units=[5])
    with pytest.raises(ValueError, match='group 2 does not exist'):
        render_trace(trace, group=2)
    with pytest.raises(ValueError, match='Token indices must be in 0..7'):
        render_trace(trace, tokens=[8])


def test_built_model_and_freshly_inflated_official_checkpoint(setup):
    """An official *image* checkpoint is inflated on load; the drawn tubes
    are those the backbone computes on the same input."""
    from mmsparseformer.models import VideoSparseFormer
    from mmsparseformer.visualization import (load_recognizer,
                                              run_tracked_pipeline,
                                              single_view_pipeline,
                                              visualize_clip)
    from mmsparseformer.visualization.pipeline import pipeline_from_config
    from sparseformer_refs import fixture_arch
    reference = torch.load(FIXTURE, weights_only=True)
    arch = fixture_arch(reference)
    checkpoint = str(setup['root'] / 'official_image.pth')
    torch.save({'state_dict': reference['image']['state_dict']}, checkpoint)
    config = write_config(setup['root'] / 'official.py', arch,
                          arch['cortex_dims'])
    model = load_recognizer(config, checkpoint)
    vis = visualize_clip(model, video=setup['video'], config=config,
                         repeats='last', panel_height=None)
    # the same backbone built directly from the checkpoint, same input
    backbone = VideoSparseFormer(arch, replicates=2, pretrained=checkpoint)
    backbone.init_weights()
    backbone.eval()
    pipeline, _ = single_view_pipeline(pipeline_from_config(model.cfg))
    clip = run_tracked_pipeline(pipeline, setup['video'])
    with torch.no_grad():
        x = model.data_preprocessor(
            dict(inputs=[clip.inputs], data_samples=[clip.data_sample]),
            False)['inputs'].flatten(0, 1)
        apps = backbone.forward_trace(x)['applications']
    expected = [a['rois'][0] for a in apps if a['unit'] == 0][-1]
    drawn = vis.trace.applications[arch['focus_repeats'] - 1]['rois']
    np.testing.assert_allclose(drawn, expected.numpy(), atol=1e-6)
    # and they moved away from the inflated initial grid
    assert not np.allclose(drawn, backbone.initial_rois.detach().numpy())
    with pytest.raises(ValueError, match='checkpoint with a config'):
        visualize_clip(model, checkpoint, setup['video'])


def test_cli_writes_gif_and_sheet(setup):
    from PIL import Image
    from mmsparseformer.visualization import visualize_clip
    out = setup['root'] / 'cli' / 'tokens.gif'
    assert visualize_tokens.main([
        setup['config'], setup['checkpoint'], setup['video'], '--out',
        str(out), '--height', '96'
    ]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == NUM_FRAMES  # one per input frame
    with Image.open(out.with_suffix('.png')) as png:
        sheet = np.asarray(png.convert('RGB'))
    assert sheet.std() > 20  # not blank
    # the sheet is exactly what the Python API renders
    vis = visualize_clip(setup['config'], setup['checkpoint'],
                         setup['video'], panel_height=96)
    np.testing.assert_array_equal(sheet, vis.sheet)

    mp4 = setup['root'] / 'cli' / 'tokens.mp4'
    sheet_path = setup['root'] / 'cli' / 'sheet.png'
    assert visualize_tokens.main([
        setup['config'], setup['checkpoint'], setup['video'], '--out',
        str(mp4), '--sheet', str(sheet_path), '--units', '1', '--tokens',
        '0', '5', '--height', '64'
    ]) == 0
    import cv2
    capture = cv2.VideoCapture(str(mp4))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == NUM_FRAMES
    assert sheet_path.exists()


def test_cli_errors(setup, capsys):
    root = setup['root']
    assert visualize_tokens.main([
        setup['config'], setup['checkpoint'], setup['video'], '--out',
        str(root / 'x.avi')
    ]) == 1
    assert '.gif' in capsys.readouterr().err
    assert visualize_tokens.main([
        setup['config'], setup['checkpoint'],
        str(root / 'missing.mp4'), '--out',
        str(root / 'x.gif')
    ]) == 1
    assert 'Video file not found' in capsys.readouterr().err
    assert visualize_tokens.main([
        setup['config'],
        str(root / 'missing.pth'), setup['video'], '--out',
        str(root / 'x.gif')
    ]) == 1
    assert 'Checkpoint file not found' in capsys.readouterr().err


def test_cli_without_checkpoint(setup, capsys):
    """CHECKPOINT 'none': the config's pretrained or a fresh init."""
    from PIL import Image
    out = setup['root'] / 'sub' / 'tokens.gif'
    assert visualize_tokens.main([
        setup['config'], 'none', setup['video'], '--out',
        str(out), '--height', '48'
    ]) == 0
    assert 'wrote' in capsys.readouterr().out
    with Image.open(out) as gif:
        assert gif.n_frames == NUM_FRAMES
    with Image.open(out.with_suffix('.png')) as png:
        assert np.asarray(png.convert('RGB')).std() > 20
