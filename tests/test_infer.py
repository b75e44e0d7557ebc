"""tools/infer.py: the config's test pipeline, top-k per video, reports of
unreadable files, equality with MMAction2's own inference path."""
import json
import os.path as osp

import pytest
import torch

from mmsparseformer.apis import (build_inferencer, build_recognizer,
                                 collect_videos, load_label_map)
from mmsparseformer.checkpoint_io import CheckpointError
from mmsparseformer.cli import infer
from mmsparseformer.testing import (build_micro_recognizer, write_lines,
                                    write_random_videos)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MICRO_CONFIG = osp.join(ROOT, 'tests', 'data', 'tools_micro_recognizer.py')
NUM_CLASSES = 5


def make_checkpoint(path: str, seed: int = 0) -> str:
    """A runner-style checkpoint of the micro config with a trained-looking
    (non-uniform) classifier."""
    model = build_micro_recognizer(seed=seed, classifier_std=1.)
    with torch.no_grad():
        model.cls_head.fc_cls.bias.copy_(torch.arange(NUM_CLASSES) * 0.3)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), path)
    return path


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp('infer')
    videos = root / 'videos'
    write_random_videos(str(videos), 3, NUM_CLASSES, num_frames=8,
                        size=(32, 40), list_name=None)
    (videos / 'nested').mkdir()
    write_random_videos(str(videos / 'nested'), 1, NUM_CLASSES,
                        num_frames=6, size=(36, 36), seed=1, list_name=None)
    (videos / 'notes.txt').write_text('not a video, not collected')
    corrupt = videos / 'corrupt.mp4'
    corrupt.write_bytes(b'\x00\x01 this is not an mp4 file ' * 20)
    labels = write_lines(
        str(root / 'labels.txt'),
        ['abseiling', 'archery', 'baking cookies', 'cartwheeling', 'diving'])
    checkpoint = make_checkpoint(str(root / 'micro.pth'))
    return dict(
        root=root,
        videos=str(videos),
        corrupt=str(corrupt),
        labels=labels,
        checkpoint=checkpoint)


def run_infer(*args):
    return infer.main([str(a) for a in args])


def test_collect_videos_walks_folders_and_keeps_files(workspace):
    videos = collect_videos([workspace['videos'], 'missing.mp4'])
    names = [osp.relpath(v, workspace['videos']) for v in videos[:-1]]
    assert names == [
        'corrupt.mp4', 'nested/video_0.mp4', 'video_0.mp4', 'video_1.mp4',
        'video_2.mp4'
    ]
    assert videos[-1] == 'missing.mp4'


def test_infer_reports_topk_per_file_and_corrupt_files(workspace, capsys):
    out = workspace['root'] / 'results.json'
    missing = osp.join(workspace['videos'], 'missing.mp4')
    code = run_infer(MICRO_CONFIG, workspace['checkpoint'],
                     workspace['videos'], missing, '--topk', 3,
                     '--label-map', workspace['labels'], '--out', out,
                     '--device', 'cpu')
    assert code == 0
    printed = capsys.readouterr().out
    assert '4 of 6 videos recognised (2 failed)' in printed
    assert '6/6' in printed  # the progress bar
    summary = json.loads(out.read_text())
    assert summary['num_videos'] == 6 and summary['num_failed'] == 2
    by_file = {r['file']: r for r in summary['results']}
    assert by_file[workspace['corrupt']]['error'].startswith(
        'VideoReadError: cannot decode')
    assert 'FileNotFoundError' in by_file[missing]['error']
    names = load_label_map(workspace['labels'])
    good = [r for r in summary['results'] if 'error' not in r]
    assert len(good) == 4
    for result in good:
        assert result['views'] == 6  # 2 clips x 3 crops
        top = result['topk']
        assert len(top) == 3
        scores = [entry['score'] for entry in top]
        assert scores == sorted(scores, reverse=True)
        assert all(0 < s < 1 for s in scores)
        assert all(entry['name'] == names[entry['label']] for entry in top)
        assert f'1. {top[0]["name"]}' in printed


def test_scores_equal_mmaction_inference_recognizer(workspace):
    """Same pipeline, normalisation and view averaging as MMAction2."""
    from mmaction.apis import inference_recognizer
    model = build_recognizer(MICRO_CONFIG, workspace['checkpoint'])
    inferencer = build_inferencer(MICRO_CONFIG, workspace['checkpoint'])
    video = osp.join(workspace['videos'], 'video_1.mp4')
    expected = inference_recognizer(model, video).pred_score
    scores, views = inferencer.predict(video)
    assert views == 6
    torch.testing.assert_close(scores, expected, rtol=0, atol=1e-6)
    assert float(scores.sum()) == pytest.approx(1., abs=1e-5)
    # views in chunks give the same scores
    chunked = build_inferencer(
        MICRO_CONFIG, workspace['checkpoint'], view_batch=4)
    torch.testing.assert_close(chunked(video), scores, rtol=0, atol=1e-6)


def test_all_files_unreadable_exits_nonzero(workspace, capsys):
    assert run_infer(MICRO_CONFIG, workspace['checkpoint'],
                     workspace['corrupt'], '--device', 'cpu') == 1
    assert 'FAILED' in capsys.readouterr().out


def test_bad_label_map_and_checkpoint_are_clear_errors(workspace, capsys):
    short = write_lines(str(workspace['root'] / 'short.txt'), ['a', 'b'])
    video = osp.join(workspace['videos'], 'video_0.mp4')
    assert run_infer(MICRO_CONFIG, workspace['checkpoint'], video,
                     '--label-map', short, '--device', 'cpu') == 2
    assert 'has 2 names but the model has 5 classes' in \
        capsys.readouterr().err
    other = workspace['root'] / 'other.pth'
    torch.save({'state_dict': {'backbone.foo': torch.zeros(1)}}, other)
    with pytest.raises(CheckpointError, match='missing keys'):
        build_inferencer(MICRO_CONFIG, str(other))
    assert run_infer(MICRO_CONFIG, workspace['root'] / 'nope.pth', video,
                     '--device', 'cpu') == 2
    assert 'Checkpoint file not found' in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA is available')
def test_cuda_without_cuda_is_a_clear_error(workspace, capsys):
    video = osp.join(workspace['videos'], 'video_0.mp4')
    assert run_infer(MICRO_CONFIG, workspace['checkpoint'], video,
                     '--device', 'cuda') == 2
    assert 'CUDA is not available' in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu(workspace):
    video = osp.join(workspace['videos'], 'video_0.mp4')
    cpu = build_inferencer(MICRO_CONFIG, workspace['checkpoint'])(video)
    gpu = build_inferencer(
        MICRO_CONFIG, workspace['checkpoint'], device='cuda')(video)
    torch.testing.assert_close(gpu, cpu, rtol=0, atol=1e-4)


def test_command_line(workspace, tmp_path, monkeypatch):
    out = tmp_path / 'r.json'
    monkeypatch.chdir(tmp_path)
    assert run_infer(MICRO_CONFIG, workspace['checkpoint'],
                     osp.join(workspace['videos'], 'video_2.mp4'),
                     workspace['corrupt'], '--topk', '2', '--out', out,
                     '--device', 'cpu') == 0
    results = json.loads(out.read_text())['results']
    assert [len(r.get('topk', [])) for r in results] == [2, 0]
    assert 'error' in results[1]
