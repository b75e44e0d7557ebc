"""Synthetic Motion: deterministic files, MMAction2-readable clips, and
classes that no single frame tells apart while two frames do."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from mmsparseformer.datasets.synthetic_motion import (
    DEFAULT_CLASSES, LABEL_MAP, META_FILE, MOTIONS, SyntheticMotionRenderer,
    ann_file_name, generate_synthetic_motion, is_complete)

SMALL = dict(num_frames=8, size=32)
#: All classes, rotations included (the default set is the four directions).
ALL = tuple(MOTIONS)


def tree_bytes(root: str) -> dict:
    """Every file under ``root`` as ``relative path -> bytes``."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


# ------------------------------------------------------------ determinism
def test_same_seed_writes_identical_files(tmp_path):
    counts = dict(num_train=7, num_val=3, num_test=2)
    first = generate_synthetic_motion(
        str(tmp_path / 'a'), seed=3, **counts, **SMALL)
    # another process count must not change a byte
    generate_synthetic_motion(
        str(tmp_path / 'b'), seed=3, num_workers=2, **counts, **SMALL)
    other = generate_synthetic_motion(
        str(tmp_path / 'c'), seed=4, **counts, **SMALL)
    assert first['generated'] and other['generated']
    files_a = tree_bytes(str(tmp_path / 'a'))
    files_b = tree_bytes(str(tmp_path / 'b'))
    files_c = tree_bytes(str(tmp_path / 'c'))
    assert len([name for name in files_a if name.endswith('.mp4')]) == 12
    assert files_a == files_b
    videos = [name for name in files_a if name.endswith('.mp4')]
    assert all(files_a[name] != files_c[name] for name in videos)


def test_renderer_is_deterministic_per_clip():
    renderer = SyntheticMotionRenderer(**SMALL)
    frames, label, info = renderer.clip(0, 'train', 5)
    again, label_again, info_again = renderer.clip(0, 'train', 5)
    np.testing.assert_array_equal(frames, again)
    np.testing.assert_array_equal(info['positions'], info_again['positions'])
    assert label == label_again == 5 % len(DEFAULT_CLASSES)
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    # train and val are different streams
    assert not np.array_equal(frames, renderer.clip(0, 'val', 5)[0])


# ----------------------------------------------------------------- layout
def test_layout_lists_label_map_and_reuse(tmp_path):
    root = str(tmp_path / 'motion')
    result = generate_synthetic_motion(root, num_train=12, num_val=6,
                                       num_test=5, **SMALL)
    with open(osp.join(root, LABEL_MAP)) as f:
        assert f.read().split() == list(DEFAULT_CLASSES)
    for split, count in (('train', 12), ('val', 6), ('test', 5)):
        assert result['ann_files'][split] == osp.join(root,
                                                      ann_file_name(split))
        with open(result['ann_files'][split]) as f:
            lines = [line.split() for line in f.read().splitlines()]
        assert len(lines) == count
        labels = [int(label) for _, label in lines]
        # balanced: every class the same number of times (+-1)
        counts = np.bincount(labels, minlength=len(DEFAULT_CLASSES))
        assert counts.max() - counts.min() <= 1
        for name, _ in lines:
            assert osp.isfile(osp.join(root, f'videos_{split}', name))
    with open(osp.join(root, META_FILE)) as f:
        meta = json.load(f)
    assert meta['counts'] == dict(train=12, val=6, test=5)
    assert meta['renderer']['size'] == 32

    # same settings: reused, nothing rewritten
    mtime = os.stat(osp.join(root, 'videos_train', '000000.mp4')).st_mtime_ns
    again = generate_synthetic_motion(root, num_train=12, num_val=6,
                                      num_test=5, **SMALL)
    assert not again['generated']
    assert os.stat(osp.join(root, 'videos_train',
                            '000000.mp4')).st_mtime_ns == mtime
    # other settings: regenerated, and stale clips removed
    smaller = generate_synthetic_motion(root, num_train=4, num_val=2,
                                        num_test=2, **SMALL)
    assert smaller['generated']
    assert len(os.listdir(osp.join(root, 'videos_train'))) == 4
    # a missing clip makes the dataset incomplete
    os.remove(osp.join(root, 'videos_val', '000001.mp4'))
    assert not is_complete(root)
    assert generate_synthetic_motion(root, num_train=4, num_val=2,
                                     num_test=2, **SMALL)['generated']
    assert is_complete(root)


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match='Unknown synthetic motion classes'):
        SyntheticMotionRenderer(classes=['right', 'sideways'])
    with pytest.raises(ValueError, match='num_frames'):
        SyntheticMotionRenderer(num_frames=1)
    with pytest.raises(ValueError, match='multiple of 4'):
        SyntheticMotionRenderer(size=30)
    with pytest.raises(ValueError, match='out of range'):
        SyntheticMotionRenderer(**SMALL).render(
            len(DEFAULT_CLASSES), np.random.default_rng(0))
    with pytest.raises(ValueError, match='Unknown split'):
        SyntheticMotionRenderer(**SMALL).clip(0, 'holdout', 0)
    with pytest.raises(ValueError, match='must be >= 0'):
        generate_synthetic_motion('unused', num_train=-1)


# --------------------------------------------------- MMAction2 readability
def test_clips_decode_through_mmaction_pipeline(tmp_path):
    """The generated mp4 files go through DecordInit/SampleFrames/
    DecordDecode and decode close to the rendered frames."""
    from mmengine.registry import init_default_scope

    import mmsparseformer  # noqa: F401
    from mmaction.registry import DATASETS
    init_default_scope('mmaction')
    root = str(tmp_path / 'motion')
    result = generate_synthetic_motion(root, num_train=6, num_val=0,
                                       num_test=0, **SMALL)
    pipeline = [
        dict(type='DecordInit'),
        dict(type='SampleFrames', clip_len=8, frame_interval=1,
             num_clips=1, test_mode=True),
        dict(type='DecordDecode'),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]
    dataset = DATASETS.build(
        dict(type='VideoDataset', ann_file=result['ann_files']['train'],
             data_prefix=dict(video=result['video_dirs']['train']),
             pipeline=pipeline, test_mode=True))
    renderer = SyntheticMotionRenderer(**SMALL)
    for index in range(len(dataset)):
        sample = dataset[index]
        assert tuple(sample['inputs'].shape) == (1, 3, 8, 32, 32)
        decoded = sample['inputs'][0].permute(1, 2, 3, 0).numpy()
        rendered, label, _ = renderer.clip(0, 'train', index)
        assert sample['data_samples'].gt_label.item() == label
        error = np.abs(decoded.astype(float) - rendered).mean()
        assert error < 12, f'clip {index} decodes {error:.1f} off'


# ------------------------------------------------------------ the classes
def test_motion_follows_the_class():
    """Translations move every moving object by the class direction
    (on the torus); rotations turn them the class's way."""
    renderer = SyntheticMotionRenderer(num_frames=6, size=64, classes=ALL)
    for index, name in enumerate(ALL):
        rng = np.random.default_rng(index)
        _, info = renderer.render(index, rng)
        steps = np.diff(info['positions'], axis=1)  # (K, T-1, 2)
        steps = (steps + 32) % 64 - 32  # undo the wrap
        turns = (np.diff(info['angles'], axis=1) + np.pi) % (2 * np.pi) - \
            np.pi
        motion = MOTIONS[name]
        if motion[0] == 'translate':
            direction = np.array(motion[1:])
            speed = steps @ direction
            assert (speed > 1).all(), name
            np.testing.assert_allclose(
                steps - speed[..., None] * direction, 0, atol=1e-9)
            np.testing.assert_allclose(turns, 0, atol=1e-9)
        else:
            np.testing.assert_allclose(steps, 0, atol=1e-9)
            assert (np.sign(turns) == motion[1]).all(), name


def test_clockwise_is_clockwise_on_screen():
    """Turning by +90 degrees carries what points down to the left (6 to 9
    o'clock): the triangle's area centroid, below its centre at angle 0."""
    renderer = SyntheticMotionRenderer(size=64, noise=0)
    obj = dict(shape='triangle', scale=40., fill=np.full(3, 255.),
               edge=np.full(3, 255.), position=np.array([32., 32.]),
               angle=0.)
    centroids = []
    for angle in (0., np.pi / 2):
        canvas = np.zeros((64, 64, 3), np.float32)
        renderer._draw(canvas, obj, obj['position'], angle)
        ys, xs = np.nonzero(canvas[..., 0] > 127)
        centroids.append((xs.mean() - 31.5, ys.mean() - 31.5))
    (x0, y0), (x1, y1) = centroids
    assert y0 > 2 and abs(x0) < 1  # pointing up: mass below the centre
    assert x1 < -2 and abs(y1) < 1  # turned clockwise: mass to the left


def chi_square_uniform(counts: np.ndarray) -> float:
    expected = counts.sum() / counts.size
    return float(((counts - expected)**2 / expected).sum())


def pose_histograms(positions: np.ndarray, angles: np.ndarray,
                    size: int) -> tuple:
    """4x4 position cells and 8 angle bins of one frame's objects."""
    cells = np.clip((positions / size * 4).astype(int), 0, 3)
    position_counts = np.bincount(cells[:, 1] * 4 + cells[:, 0],
                                  minlength=16)
    angle_bins = np.clip((angles / (2 * np.pi) * 8).astype(int), 0, 7)
    return position_counts, np.bincount(angle_bins, minlength=8)


class InsideRenderer(SyntheticMotionRenderer):
    """The naive generator: objects start where their whole path stays
    inside the frame. Its first and last frames give the direction away."""

    def trajectory(self, obj, label, rng):
        positions, angles = super().trajectory(obj, label, rng)
        steps = (np.diff(positions, axis=0) + self.size / 2) % self.size - \
            self.size / 2
        path = np.concatenate([np.zeros((1, 2)), np.cumsum(steps, 0)])
        low, high = path.min(0), path.max(0)
        start = rng.uniform(-low, self.size - high)
        return start + path, angles


def max_pose_chi_square(renderer, label: int, clips: int = 160) -> tuple:
    """Largest chi-square (over frame indices) of the moving objects'
    positions (4x4 cells) and angles (8 bins) against uniform."""
    positions, angles = [], []
    for index in range(clips):
        rng = np.random.default_rng([label, index])
        path = renderer.trajectory(renderer._random_object(rng), label, rng)
        positions.append(path[0])
        angles.append(path[1])
    positions, angles = np.stack(positions), np.stack(angles)
    worst_position = worst_angle = 0.
    for frame in range(renderer.num_frames):
        position_counts, angle_counts = pose_histograms(
            positions[:, frame], angles[:, frame], renderer.size)
        worst_position = max(worst_position,
                             chi_square_uniform(position_counts))
        worst_angle = max(worst_angle, chi_square_uniform(angle_counts))
    return worst_position, worst_angle


def test_every_frame_has_the_same_pose_distribution_in_every_class():
    """At every frame index, the moving objects' positions and angles are
    uniform in every class (chi-square under the p=0.001 bound: 37.7 for
    15 degrees of freedom, 24.3 for 7); the same check fails for a
    generator whose objects stay inside the frame."""
    renderer = SyntheticMotionRenderer(num_frames=8, size=64, classes=ALL)
    naive = InsideRenderer(num_frames=8, size=64, classes=ALL)
    for label, name in enumerate(ALL):
        position_chi2, angle_chi2 = max_pose_chi_square(renderer, label)
        assert position_chi2 < 37.7, (name, position_chi2)
        assert angle_chi2 < 24.3, (name, angle_chi2)
        if MOTIONS[name][0] == 'translate':
            assert max_pose_chi_square(naive, label)[0] > 37.7, name


def frame_features(frame: np.ndarray) -> np.ndarray:
    """Single-frame features a shortcut would show in: a colour histogram
    (8 bins a channel) and a 4x4 mean-colour image."""
    hist = [np.bincount((frame[..., c].ravel() // 32).astype(int), minlength=8)
            for c in range(3)]
    size = frame.shape[0]
    pooled = frame.reshape(4, size // 4, 4, size // 4, 3).mean((1, 3))
    return np.concatenate([np.concatenate(hist) / frame[..., 0].size,
                           pooled.ravel() / 255])


def max_class_t_statistic(features: np.ndarray, labels: np.ndarray) -> float:
    """Largest |Welch t| of any feature between one class and the rest."""
    worst = 0.
    for label in np.unique(labels):
        inside, outside = features[labels == label], features[labels != label]
        error = np.sqrt(inside.var(0, ddof=1) / len(inside) +
                        outside.var(0, ddof=1) / len(outside))
        valid = error > 1e-9
        t = (inside.mean(0) - outside.mean(0))[valid] / error[valid]
        worst = max(worst, float(np.abs(t).max()))
    return worst


def nearest_centroid_accuracy(train_x, train_y, test_x, test_y) -> float:
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    classes = np.unique(train_y)
    centroids = np.stack([train_x[train_y == c].mean(0) for c in classes])
    distances = ((test_x[:, None] - centroids[None])**2).sum(-1)
    return float((classes[distances.argmin(1)] == test_y).mean())


def dominant_shift(first: np.ndarray, second: np.ndarray,
                   max_shift: int = 6) -> tuple:
    """The circular shift that best maps where ``first`` changed onto where
    ``second`` changed (a two-frame motion cue)."""
    best, best_score = (0, 0), -np.inf
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            if dx == dy == 0:
                continue
            score = (np.roll(first, (dy, dx), (0, 1)) * second).sum()
            if score > best_score:
                best, best_score = (dx, dy), score
    return best


class TintedRenderer(SyntheticMotionRenderer):
    """A generator with a single-frame shortcut: class 0's shapes are red.
    The single-frame test must catch it."""

    def _random_object(self, rng):
        obj = super()._random_object(rng)
        if self._label == 0:
            obj['fill'] = obj['edge'] = np.array([255., 0., 0.])
        return obj

    def render(self, label, rng):
        self._label = label
        return super().render(label, rng)


def single_frame_and_motion_cues(renderer, clips: int = 360):
    """Single-frame features: the largest class-vs-rest t statistic and a
    nearest-centroid accuracy (half to fit, half to test); two frames: the
    accuracy of the shift cue on the translation classes."""
    features, labels, motion_hits, motion_total = [], [], 0, 0
    num_classes = len(renderer.classes)
    for index in range(clips):
        frames, label, _ = renderer.clip(7, 'train', index)
        frames = frames.astype(np.float32)
        features.append(frame_features(frames[index % len(frames)]))
        labels.append(label)
        motion = MOTIONS[renderer.classes[label]]
        if motion[0] == 'translate':
            change = [np.abs(frames[t + 1] - frames[t]).sum(-1)
                      for t in (1, 2)]
            dx, dy = dominant_shift(*change)
            guess = (np.sign(dx), 0.) if abs(dx) > abs(dy) else \
                (0., np.sign(dy))
            motion_hits += guess == motion[1:]
            motion_total += 1
    features, labels = np.stack(features), np.array(labels)
    half = clips // 2
    accuracy = nearest_centroid_accuracy(features[:half], labels[:half],
                                         features[half:], labels[half:])
    return (max_class_t_statistic(features, labels), accuracy,
            motion_hits / motion_total, 1 / num_classes)


def test_single_frames_are_at_chance_two_frames_are_not():
    """No colour or layout statistic of a single frame differs between
    classes (every class-vs-rest t statistic of 72 features stays below 4.5;
    a shortcut such as red objects in one class gives far more) and a
    classifier on them is at chance, while two consecutive frames give the
    translation classes away."""
    renderer = SyntheticMotionRenderer(num_frames=8, size=32, classes=ALL)
    t_max, accuracy, motion_accuracy, chance = \
        single_frame_and_motion_cues(renderer)
    assert t_max < 4.5, t_max
    assert abs(accuracy - chance) < 0.08, accuracy
    assert motion_accuracy > 0.9, motion_accuracy
    tinted_t_max, _, _, _ = single_frame_and_motion_cues(
        TintedRenderer(num_frames=8, size=32, classes=ALL))
    assert tinted_t_max > 4.5, tinted_t_max
