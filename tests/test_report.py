"""tools/analysis/report.py: accuracy from a test dump, the table and the
plot beside MMAction2's model zoo read from the wheel's metafiles."""
import json
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from mmsparseformer.analysis.report import (accuracy_from_dump,
                                            parse_quantity, project_model,
                                            read_accuracy, read_model_zoo,
                                            read_project_models)
from mmsparseformer.cli import report
from mmsparseformer.cli import test as test_tool
from mmsparseformer.testing import (build_micro_recognizer,
                                    micro_recognizer_cfg)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MICRO_CONFIG = osp.join(ROOT, 'tests', 'data', 'tools_micro_recognizer.py')
K400_TINY = osp.join(
    ROOT, 'configs', 'recognition', 'videosparseformer',
    'videosparseformer-tiny_in1k-pre_8xb8-32x2x1-30e_kinetics400-rgb.py')


def write_dump(path, labels, predictions, num_classes=5):
    """A ``tools/test.py --dump`` style pickle: ``pred_score`` peaks at
    ``predictions``, second best is the class after it."""
    samples = []
    for label, predicted in zip(labels, predictions):
        score = torch.full((num_classes, ), 0.05)
        score[predicted] = 0.6
        score[(predicted + 1) % num_classes] = 0.2
        samples.append(
            dict(
                pred_score=score / score.sum(),
                pred_label=torch.tensor([predicted]),
                gt_label=torch.tensor([label]),
                num_classes=num_classes))
    with open(path, 'wb') as f:
        pickle.dump(samples, f)
    return str(path)


def test_accuracy_from_dump(tmp_path):
    # 4 right, 2 second best, 2 wrong: top-1 50 %, top-2 75 %
    labels = [0, 1, 2, 3, 4, 0, 1, 2]
    predictions = [0, 1, 2, 3, 3, 4, 3, 4]
    dump = write_dump(tmp_path / 'r.pkl', labels, predictions)
    accuracy = accuracy_from_dump(dump, topk=(1, 2))
    assert accuracy['top1'] == pytest.approx(50.)
    assert accuracy['top2'] == pytest.approx(75.)
    assert accuracy['num_samples'] == 8 and accuracy['num_classes'] == 5


def test_accuracy_from_json_and_errors(tmp_path):
    path = tmp_path / 'metrics.json'
    path.write_text(json.dumps({'acc/top1': 0.7125, 'acc/top5': 0.9}))
    assert read_accuracy(str(path)) == {
        'top1': pytest.approx(71.25),
        'top5': pytest.approx(90.)
    }
    path.write_text(json.dumps({'top1': 71.25}))
    assert read_accuracy(str(path)) == {'top1': 71.25}
    path.write_text(json.dumps({'loss': 1.}))
    with pytest.raises(KeyError, match='no top1'):
        read_accuracy(str(path))
    bad = tmp_path / 'bad.pkl'
    with open(bad, 'wb') as f:
        pickle.dump([dict(pred_score=np.ones(3))], f)
    with pytest.raises(KeyError, match='result 0 lacks'):
        read_accuracy(str(bad))
    with pytest.raises(FileNotFoundError):
        read_accuracy(str(tmp_path / 'none.pkl'))


def test_parse_quantity():
    assert parse_quantity('88G') == 88e9
    assert parse_quantity('3.269G') == pytest.approx(3.269e9)
    assert parse_quantity('28.2M') == pytest.approx(28.2e6)
    assert parse_quantity(2967543760) == 2967543760.
    assert parse_quantity('n/a') is None and parse_quantity(None) is None


def test_model_zoo_is_read_from_the_wheel_metafiles():
    zoo = read_model_zoo('Kinetics-400')
    by_name = {entry.name: entry for entry in zoo}
    swin = by_name['swin-tiny-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_'
                   'kinetics400-rgb']
    assert (swin.top1, swin.gflops_per_view, swin.views) == (78.9, 88., 12)
    assert swin.params_m == pytest.approx(28.2)
    x3d = by_name['x3d_m_16x5x1_facebook-kinetics400-rgb']
    assert x3d.views == 30 and x3d.gflops_per_view == pytest.approx(6.49, 
                                                                   abs=0.01)
    assert len(zoo) > 50
    assert {'Swin', 'TimeSformer', 'X3D', 'MViT'} <= \
        {entry.collection for entry in zoo}
    # results filed under the wrong dataset (sthv2 configs) are left out
    assert all('kinetics400' in osp.basename(e.config).replace('-', '')
               for e in zoo)


def test_report_writes_table_and_png(tmp_path, capsys):
    labels = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    predictions = [0, 1, 2, 3, 4, 0, 1, 2, 0, 0]
    dump = write_dump(tmp_path / 'results.pkl', labels, predictions)
    out_dir = tmp_path / 'report'
    assert report.main([MICRO_CONFIG, dump, '--out-dir',
                        str(out_dir), '--name', 'VSF-micro']) == 0
    table = (out_dir / 'report.md').read_text()
    lines = table.splitlines()
    assert lines[0] == ('| model | top-1 | top-5 | GFLOPs/view | views | '
                        'params |')
    ours = lines[2].split(' | ')
    assert ours[0] == '| **VSF-micro** (this run)'
    assert ours[1:3] == ['80.00', '100.00']
    assert ours[3].startswith('0.004025 (paper-comparable 0.003866')
    assert ours[4] == '6' and ours[5] == '0.148 M |'
    assert any(line.startswith('| swin-tiny-p244') and '| 78.90 |' in line
               for line in lines)
    png = out_dir / 'top1_vs_gflops.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    import matplotlib.image
    image = matplotlib.image.imread(str(png))
    assert image.shape[0] > 300 and image.shape[1] > 500
    assert image[..., :3].std() > 0.05  # not a blank canvas
    assert 'zoo models' in capsys.readouterr().out


def test_report_bad_results_file(tmp_path, capsys):
    empty = tmp_path / 'empty.pkl'
    with open(empty, 'wb') as f:
        pickle.dump([], f)
    assert report.main([MICRO_CONFIG, str(empty)]) == 2
    assert 'non-empty list' in capsys.readouterr().err


def test_project_configs_are_read_from_the_metafile(tmp_path, capsys):
    """A config of the project's model zoo: GFLOPs and parameters from its
    metafile entry (tests/test_configs.py checks them against the
    counter), views from the config."""
    names = {model.name for model in read_project_models()}
    assert osp.basename(K400_TINY)[:-3] in names
    tiny = project_model(K400_TINY)
    assert (tiny.views, tiny.input_shape) == (12, (32, 224, 224))
    assert project_model(MICRO_CONFIG) is None
    dump = write_dump(tmp_path / 'results.pkl', [0, 1], [0, 0],
                      num_classes=400)
    assert report.main([K400_TINY, dump, '--no-zoo-table', '--out-dir',
                        str(tmp_path)]) == 0
    row = (tmp_path / 'report.md').read_text().splitlines()[2].split(' | ')
    assert row[1] == '50.00'
    assert row[3] == (f'{tiny.gflops_per_view:.4g} (paper-comparable '
                      f'{tiny.paper_gflops_per_view:.4g})')
    assert row[4:] == ['12', f'{tiny.params_m:.3g} M |']


@pytest.mark.slow
def test_report_from_a_real_test_dump(tmp_path, monkeypatch, capsys):
    """tools/test.py --dump on a micro config, then report.py on the dump:
    the table's accuracy is the dump's, recomputed independently."""
    from mmsparseformer.testing import write_random_videos
    config = osp.join(ROOT, 'tests', 'data', 'configs',
                      'vsf_micro_2xb2-4x1x1-2e_tinyvideo-rgb.py')
    for split in ('train', 'val'):
        write_random_videos(
            str(tmp_path / 'data' / 'tinyvideo' / split), 6, 3,
            num_frames=6)
    model = build_micro_recognizer(micro_recognizer_cfg(num_classes=3))
    checkpoint = tmp_path / 'micro.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    dump = tmp_path / 'results.pkl'
    monkeypatch.chdir(tmp_path)  # the config's data paths are relative
    test_tool.main([
        config, str(checkpoint), '--dump', str(dump), '--work-dir',
        str(tmp_path / 'work')
    ])
    with open(dump, 'rb') as f:
        samples = pickle.load(f)
    scores = np.stack([_numpy(s['pred_score']) for s in samples])
    labels = np.array([int(_numpy(s['gt_label'])[0]) for s in samples])
    expected_top1 = 100. * np.mean(scores.argmax(1) == labels)

    assert report.main([config, str(dump), '--out-dir', 'report',
                        '--no-zoo-table']) == 0
    row = (tmp_path / 'report' / 'report.md').read_text().splitlines()[2]
    assert row.split(' | ')[1] == f'{expected_top1:.2f}'
    assert row.split(' | ')[4] == '1'  # one view in this test pipeline
    assert (tmp_path / 'report' / 'top1_vs_gflops.png').stat().st_size > 0


def _numpy(value):
    return value.numpy() if hasattr(value, 'numpy') else np.asarray(value)
