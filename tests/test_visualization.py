"""Token-tube visualisation: geometry, pixel maps through MMAction2
pipelines, and drawing on the expected pixels."""
import numpy as np
import pytest

from mmsparseformer.testing import write_video
from mmsparseformer.visualization import (AxisMap, crop_map, draw_token_tubes,
                                          flip_map, frame_distance,
                                          nearest_frame, resize_map,
                                          run_tracked_pipeline,
                                          single_view_pipeline, step_map,
                                          token_colors, tube_alpha,
                                          tubes_to_original)
from mmsparseformer.visualization.geometry import (box_pixels,
                                                   points_to_original)
from mmsparseformer.visualization.pipeline import GeometryState
from mmsparseformer.visualization.token_tubes import (animation_frames,
                                                      contact_sheet,
                                                      select_rows)
from mmsparseformer.visualization.writers import write_animation

RED = (255, 0, 0)

# 64x48 frames -> Resize(-1, 36) -> 48x36 (x0.75) -> CenterCrop(32): the
# crop starts at (8, 2) of the resized image.
RESIZE_CROP = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=1, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
TO_INPUT = resize_map((48, 64), (36, 48)).then(crop_map((8, 2, 40, 34)))


# ------------------------------------------------------------------ geometry
def test_axis_map_compose_and_inverse():
    m = AxisMap(2., 1., 3., -2.).then(AxisMap(0.5, 4., -1., 6.))
    x, y = m.apply(np.array([1., -3.]), np.array([2., 0.5]))
    np.testing.assert_allclose(x, 0.5 * (2 * np.array([1., -3.]) + 1) + 4)
    np.testing.assert_allclose(y, -(3 * np.array([2., 0.5]) - 2) + 6)
    back = m.inverse().apply(x, y)
    np.testing.assert_allclose(back[0], [1., -3.])
    np.testing.assert_allclose(back[1], [2., 0.5])
    with pytest.raises(ValueError, match='not invertible'):
        AxisMap(0., 0., 1., 0.).inverse()


def test_resize_crop_flip_maps():
    x, y = resize_map((48, 64), (36, 48)).apply(64., 48.)
    assert (x, y) == (48., 36.)  # edges to edges
    assert crop_map((8, 2, 40, 34)).apply(8., 2.) == (0., 0.)
    x, y = flip_map('horizontal', (32, 40)).apply(np.array([0., 10.]), 5.)
    np.testing.assert_allclose(x, [40., 30.])
    assert y == 5.
    with pytest.raises(ValueError, match='flip direction'):
        flip_map('diagonal', (2, 2))


def test_normalised_tubes_map_to_original_pixels():
    tubes = np.array([[0.25, 0.25, 0.1, 0.75, 0.75, 0.6], [0, 0, 0, 1, 1, 1]])
    out = tubes_to_original(tubes, (32, 32), TO_INPUT.inverse())
    # input pixel 8 -> resized 16 -> original 16 / 0.75; y offset 2
    np.testing.assert_allclose(
        out[0], [16 / .75, 10 / .75, 0.1, 32 / .75, 26 / .75, 0.6])
    np.testing.assert_allclose(out[1],
                               [8 / .75, 2 / .75, 0, 40 / .75, 34 / .75, 1])
    points = points_to_original(np.array([[[0.5, 0.5, 0.3]]]), (32, 32),
                                TO_INPUT.inverse())
    np.testing.assert_allclose(points[0, 0], [24 / .75, 18 / .75, 0.3])
    # a flip keeps x1 <= x2
    flipped = tubes_to_original(tubes[:1], (32, 32),
                                flip_map('horizontal', (32, 32)).inverse())
    np.testing.assert_allclose(flipped[0, [0, 3]], [8., 24.])
    with pytest.raises(ValueError, match='6 values'):
        tubes_to_original(np.zeros((2, 4)), (32, 32), AxisMap())


def test_time_axis():
    t = np.array([-0.1, 0., 0.124, 0.125, 0.5, 0.999, 1., 1.3])
    np.testing.assert_array_equal(nearest_frame(t, 8),
                                  [0, 0, 0, 1, 4, 7, 7, 7])
    # frame centres (f + 0.5) / 4 against a span [0, 0.5] = frames 0..2
    d = frame_distance(4, np.array([0.]), np.array([0.5]))
    np.testing.assert_allclose(d[:, 0], [0., 0., 0.5, 1.5])
    np.testing.assert_allclose(tube_alpha(d[:, 0], 2.), [1, 1, .75, .25])
    np.testing.assert_allclose(tube_alpha(d[:, 0], 1., 0.1), [1, 1, .5, .1])
    np.testing.assert_allclose(tube_alpha(d[:, 0], 0.), [1, 1, 0, 0])
    assert box_pixels((2., 3., 10., 12.)) == (2, 3, 9, 11)
    assert box_pixels((2.5, 3.2, 2.6, 3.3)) == (2, 3, 2, 3)


# ----------------------------------------------------------------- pipeline
def _state(shape, crop=None, scale=None, flip=False, direction=None):
    return GeometryState(shape=shape, crop_bbox=crop, scale_factor=scale,
                         flip=flip, flip_direction=direction)


def test_step_map_reads_what_transforms_record():
    crop = np.array([8, 2, 40, 34])
    assert step_map(_state((36, 48), scale=(.75, .75)),
                    _state((32, 32), crop, (.75, .75))) == AxisMap(
                        bx=-8., by=-2.)
    assert step_map(_state((48, 64), scale=(1., 1.)),
                    _state((36, 48), scale=(.75, .75))) == AxisMap(
                        sx=.75, sy=.75)
    assert step_map(_state((32, 32), crop), _state(
        (32, 32), crop, flip=True,
        direction='horizontal')) == AxisMap(sx=-1., bx=32.)
    # the same crop_bbox object seen again is no new crop
    assert step_map(_state((32, 32), crop), _state((32, 32), crop)) == \
        AxisMap()
    with pytest.raises(ValueError, match='Cannot map coordinates through '
                       'MyPad'):
        step_map(_state((32, 32)), _state((40, 40)), 'MyPad')


def test_single_view_pipeline():
    pipeline = [
        dict(type='DecordInit'),
        dict(type='SampleFrames', clip_len=8, num_clips=10, twice_sample=True,
             test_mode=True),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, 256), lazy=True),
        dict(type='TenCrop', crop_size=224),
        dict(type='Fuse'),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs'),
    ]
    out, notes = single_view_pipeline(pipeline)
    assert [t['type'] for t in out] == [
        'DecordInit', 'SampleFrames', 'DecordDecode', 'Resize', 'CenterCrop',
        'FormatShape', 'PackActionInputs'
    ]
    assert out[1]['num_clips'] == 1 and not out[1]['twice_sample']
    assert 'lazy' not in out[3]
    assert out[4] == dict(type='CenterCrop', crop_size=224)
    assert len(notes) == 5
    assert pipeline[1]['num_clips'] == 10  # the input is not modified
    with pytest.raises(ValueError, match='RawFrameDecode'):
        single_view_pipeline([dict(type='RawFrameDecode')])


def _square_clip(path, num_frames=4):
    """64x48 black frames with a white 8x8 square at x 36..44, y 16..24."""
    frames = np.zeros((num_frames, 48, 64, 3), np.uint8)
    frames[:, 16:24, 36:44] = 255
    write_video(str(path), frames)
    return frames


def _centroid(image):
    """Intensity centroid (x, y) in continuous pixel coordinates."""
    weight = np.clip(image.astype(np.float64) - 60, 0, None)
    ys, xs = np.mgrid[:image.shape[0], :image.shape[1]]
    return ((xs + .5) * weight).sum() / weight.sum(), \
        ((ys + .5) * weight).sum() / weight.sum()


@pytest.mark.parametrize('flip', [False, True])
def test_tracked_pipeline_maps_input_pixels_back(tmp_path, flip):
    _square_clip(tmp_path / 'square.mp4')
    pipeline = list(RESIZE_CROP)
    if flip:
        pipeline.insert(5, dict(type='Flip', flip_ratio=1.))
    clip = run_tracked_pipeline(pipeline, str(tmp_path / 'square.mp4'))
    assert clip.frames.shape == (4, 48, 64, 3)
    np.testing.assert_array_equal(clip.frame_inds, [0, 1, 2, 3])
    assert clip.input_hw == (32, 32)
    assert tuple(clip.inputs.shape) == (1, 3, 4, 32, 32)
    np.testing.assert_allclose(clip.view_box,
                               [8 / .75, 2 / .75, 40 / .75, 34 / .75])
    # the square in the model input, mapped back, is where it was drawn
    x, y = _centroid(clip.inputs[0, :, 0].float().mean(0).numpy())
    ox, oy = clip.to_original.apply(x, y)
    assert abs(ox - 40.) < 0.3 and abs(oy - 20.) < 0.3, (ox, oy)
    if flip:
        assert x < 16  # the square moved to the left half
    # the decoded frames are the originals, not the crops
    ox, oy = _centroid(clip.frames[0].mean(-1))
    assert abs(ox - 40.) < 0.3 and abs(oy - 20.) < 0.3


def test_tracked_pipeline_errors(tmp_path):
    _square_clip(tmp_path / 'square.mp4')
    with pytest.raises(ValueError, match='PackActionInputs'):
        run_tracked_pipeline(RESIZE_CROP[:-1], str(tmp_path / 'square.mp4'))
    with pytest.raises(ValueError, match='decoded no frames'):
        run_tracked_pipeline(RESIZE_CROP[:2], str(tmp_path / 'square.mp4'))
    with pytest.raises(RuntimeError, match='DecordInit failed'):
        run_tracked_pipeline(RESIZE_CROP, str(tmp_path / 'missing.mp4'))


# ------------------------------------------------------------------ drawing
def test_boxes_on_expected_pixels_and_faded_in_time():
    frames = np.zeros((4, 20, 30, 3), np.uint8)
    tubes = np.array([[2., 3., 0., 10., 12., 0.5]])  # frames 0, 1 (+2 fading)
    out = draw_token_tubes(frames, tubes, colors=[RED], line_width=1)
    assert out.shape == frames.shape and not frames.any()
    for f in (0, 1):
        for x, y in [(2, 3), (9, 3), (2, 11), (9, 11), (5, 3), (2, 7)]:
            assert tuple(out[f, y, x]) == RED, (f, x, y)
        assert not out[f, 5, 5].any()  # inside
        assert not out[f, 2, 2].any() and not out[f, 3, 10].any()  # outside
        assert (out[f].any(-1)).sum() == 2 * (8 + 9) - 4  # 8 x 9 outline
    assert tuple(out[2, 3, 2]) == (191, 0, 0)  # 0.5 frame away: alpha 0.75
    assert tuple(out[3, 3, 2]) == (64, 0, 0)  # 1.5 frames away: alpha 0.25
    wide = draw_token_tubes(frames, tubes, colors=[RED], line_width=2,
                            fade_frames=1.)
    assert tuple(wide[0, 4, 3]) == RED and not wide[0, 5, 4].any()
    assert not wide[3].any()  # beyond the fade: hidden


def test_points_on_expected_pixels_of_their_nearest_frame():
    frames = np.zeros((4, 20, 30, 3), np.uint8)
    tubes = np.array([[20., 14., 0., 29., 19., 0.2]])
    points = np.array([[[5.5, 7.2, 0.6], [0.2, 19.9, 1.0], [40., 5., 0.]]])
    out = draw_token_tubes(frames, tubes, points, colors=[RED],
                           point_radius=0, fade_frames=0.)
    assert tuple(out[2, 7, 5]) == RED  # t 0.6 -> frame floor(2.4) = 2
    assert tuple(out[3, 19, 0]) == RED  # t 1.0 -> the last frame
    for f in (0, 1, 3):
        assert not out[f, 7, 5].any()
    for f in (0, 1, 2):
        assert not out[f, 19, 0].any()
    assert out[1:3].any(-1).sum() == 1  # frame 1 has nothing, 2 one dot
    big = draw_token_tubes(frames + 200, tubes, points, colors=[RED],
                           point_radius=1)
    assert tuple(big[2, 7, 5]) == RED and tuple(big[2, 6, 5]) == RED
    assert tuple(big[2, 5, 5]) == (80, 80, 80)  # the dark ring: 200 * 0.4


def test_normalised_rois_land_on_original_pixels():
    """Hand-set normalised tubes through the resize + crop map land where
    the map says on the original 64x48 frames."""
    frames = np.full((2, 48, 64, 3), 40, np.uint8)
    rois = np.array([[0.25, 0.25, 0., 0.75, 0.75, 1.]])
    tubes = tubes_to_original(rois, (32, 32), TO_INPUT.inverse())
    out = draw_token_tubes(frames, tubes, colors=[RED], line_width=1,
                           view_box=(8 / .75, 2 / .75, 40 / .75, 34 / .75))
    # 21.33, 13.33, 42.67, 34.67 -> first / last pixels 21, 13, 42, 34
    for x, y in [(21, 13), (42, 13), (21, 34), (42, 34)]:
        assert tuple(out[0, y, x]) == RED
    assert tuple(out[0, 12, 21]) == (40, 40, 40)
    assert tuple(out[0, 13, 43]) == (40, 40, 40)
    assert tuple(out[0, 20, 5]) == (20, 20, 20)  # outside the view: dimmed


def test_drawing_clips_and_checks_shapes():
    frames = np.zeros((2, 10, 10, 3), np.uint8)
    out = draw_token_tubes(frames, [[-5., -5., 0., 4., 4., 1.]],
                           colors=[RED], line_width=1)
    assert tuple(out[0, 3, 0]) == RED and not out[0, 0, 0].any()
    out = draw_token_tubes(frames, [[20., 20., 0., 30., 30., 1.]])
    assert not out.any()
    with pytest.raises(ValueError, match='uint8'):
        draw_token_tubes(frames.astype(np.float32), np.zeros((0, 6)))
    with pytest.raises(ValueError, match=r'\(1, P, 3\)'):
        draw_token_tubes(frames, np.zeros((1, 6)), np.zeros((2, 3, 3)))


def test_token_colors_are_fixed_and_distinct():
    colors = token_colors(range(81))
    assert colors.shape == (81, 3) and colors.dtype == np.uint8
    assert len({tuple(c) for c in colors}) == 81
    np.testing.assert_array_equal(token_colors([5, 3]), colors[[5, 3]])


def test_layouts_and_writers(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    panels = rng.integers(0, 255, (5, 3, 16, 20, 3), dtype=np.uint8)
    frames = animation_frames(panels, ['a', 'b', 'c'],
                              [f'f{i}' for i in range(5)], gap=2, header=18)
    assert frames.shape == (5, 34, 64, 3)
    np.testing.assert_array_equal(frames[2, 18:, 22:42], panels[2, 1])
    sheet, rows = contact_sheet(panels, ['a', 'b', 'c'],
                                [f'f{i}' for i in range(5)], max_rows=3)
    assert rows == [0, 2, 4] and sheet.shape == (18 + 3 * 18, 64 + 66, 3)
    np.testing.assert_array_equal(sheet[18 + 18:18 + 34, 64 + 22:64 + 42],
                                  panels[2, 1])
    np.testing.assert_array_equal(select_rows(20, 4), [0, 6, 13, 19])
    gif = write_animation(str(tmp_path / 'a.gif'), frames, fps=5)
    with Image.open(gif) as image:
        assert image.n_frames == 5
    with pytest.raises(ValueError, match='suffix'):
        write_animation(str(tmp_path / 'a.avi'), frames)
