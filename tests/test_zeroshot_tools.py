"""Zero-shot end to end on generated clips: ``tools/test.py`` (its ``main``,
in this process) with a
zero-shot config (shrunk to the small CLIP-style bootstrapped model of the
reference fixture, given as an official image checkpoint), its dump read by
the report, and inference on a user's own label set."""
import glob
import json
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mmsparseformer  # noqa: F401  (registers the models)
from mmsparseformer.analysis import recognizer_flops
from mmsparseformer.analysis.report import (RunRow, plot_accuracy_vs_gflops,
                                            read_accuracy, report_table)
from mmsparseformer.apis import (build_inferencer, infer_videos,
                                 with_text_classifier)
from mmsparseformer.cli import infer as infer_tool
from mmsparseformer.cli import test as test_tool
from mmsparseformer.testing import in_process, write_random_videos
from sparseformer_refs import btsp_fixture_arch, build_btsp_reference_model
from zeroshot_refs import random_text_classifier

pytestmark = pytest.mark.slow

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASE_CONFIG = osp.join(
    ROOT, 'configs', 'recognition', 'videosparseformer',
    'videosparseformer-btsp-clip-base_zeroshot_32x2x4_kinetics400-rgb.py')
CLASSES = ['archery', 'bowling', 'cartwheeling']
REPLICATES = 2
LOGIT_SCALE = 5.
#: The shrunk test protocol: 2 clips x 3 crops of 4 frames at 32x32.
TEST_PIPELINE = """[
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=2, num_clips=2,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 32)),
    dict(type='ThreeCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]"""


def write_config(path: str, arch: dict) -> str:
    """The btsp-clip-base zero-shot config with the fixture's model, a
    3-class classifier and small clips of ``data/val``."""
    with open(path, 'w') as f:
        f.write(f"""_base_ = [{BASE_CONFIG!r}]
model = dict(
    backbone=dict(arch={dict(arch, _delete_=True)!r},
                  replicates={REPLICATES}),
    cls_head=dict(num_classes=3, in_channels=128, proj_dims=12,
                  classifier='classes.pt'))
test_pipeline = {TEST_PIPELINE}
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(ann_file='data/val/list.txt',
                 data_prefix=dict(video='data/val'),
                 pipeline=test_pipeline))
""")
    return path


@pytest.fixture(scope='module')
def workspace(tmp_path_factory, btsp_reference):
    root = tmp_path_factory.mktemp('zeroshot')
    write_random_videos(str(root / 'data' / 'val'), 4, 3, num_frames=12,
                        size=(36, 44), seed=3)
    case = btsp_reference['clip_style']
    checkpoint = str(root / 'sparseformer_btsp_clip_style.pth')
    torch.save(dict(model=case['state_dict']), checkpoint)  # official image
    # a small logit scale (from the file) keeps the softmax unsaturated
    rows = random_text_classifier(str(root / 'classes.pt'), 3, 12,
                                  label_map=CLASSES, logit_scale=LOGIT_SCALE)
    arch = btsp_fixture_arch(btsp_reference, 'clip_style')
    config = write_config(str(root / 'zeroshot_micro.py'), arch)
    return dict(root=root, checkpoint=checkpoint, config=config, rows=rows,
                state=case['state_dict'])


def expected_scores(workspace, btsp_reference, rows, videos, scale):
    """Per video: the mean over views of softmax(scale * cos(video, class)),
    with the fixture converted and inflated independently of the tools."""
    backbone, head = build_btsp_reference_model(
        btsp_reference, 'clip_style', workspace['state'], REPLICATES)
    inferencer = build_inferencer(workspace['config'])  # for its pipeline
    scores = []
    for video in videos:
        views = inferencer.preprocess(video)
        with torch.no_grad():
            embedding = F.normalize(head.embed(backbone(views)), dim=-1)
        logits = scale * embedding @ rows.t()
        scores.append(logits.softmax(dim=-1).mean(dim=0))
    return torch.stack(scores)


def test_tools_test_dump_of_an_official_checkpoint_feeds_the_report(
        workspace, btsp_reference, monkeypatch):
    root = workspace['root']
    dump = root / 'results.pkl'
    with in_process(root):
        test_tool.main([workspace['config'], workspace['checkpoint'],
                        '--dump', str(dump), '--work-dir', str(root / 'work')])
    logs = glob.glob(str(root / 'work' / '*' / '*.log'))
    assert any('official_image layout' in open(log).read() for log in logs)
    with open(dump, 'rb') as f:
        samples = pickle.load(f)  # one process: in dataset order
    scores = torch.stack([torch.as_tensor(s['pred_score']) for s in samples])
    labels = np.array([int(s['gt_label'][0]) for s in samples])

    # the weights test.py used are the official file's, inflated
    monkeypatch.chdir(root)
    videos = [str(root / 'data' / 'val' / f'video_{i}.mp4') for i in
              range(len(samples))]
    expected = expected_scores(workspace, btsp_reference, workspace['rows'],
                               videos, LOGIT_SCALE)
    assert scores.max() < 0.99  # not saturated: the comparison means much
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-5)

    # what tools/analysis/report.py reads and writes
    accuracy = read_accuracy(str(dump))
    top1 = 100. * float(np.mean(scores.numpy().argmax(1) == labels))
    assert accuracy['top1'] == pytest.approx(top1)
    assert accuracy['num_classes'] == 3
    flops = recognizer_flops(workspace['config'])
    assert flops.protocol.views == 6  # 2 clips x 3 crops
    run = RunRow(name='zero-shot micro', top1=accuracy['top1'],
                 top5=accuracy.get('top5'),
                 gflops_per_view=flops.gflops_per_view,
                 paper_gflops_per_view=flops.count.paper_comparable / 1e9,
                 views=flops.protocol.views,
                 params_m=flops.count.params / 1e6)
    row = report_table(run).splitlines()[2].split(' | ')
    assert row[1] == f'{top1:.2f}' and row[4] == '6'
    plot = root / 'top1_vs_gflops.png'
    plot_accuracy_vs_gflops(run, [], str(plot))
    assert plot.stat().st_size > 0


def test_inference_on_a_users_own_label_set(workspace, btsp_reference,
                                            monkeypatch):
    """Another text classifier (2 classes of the user's) on the same
    config and official checkpoint: scores and names from that file."""
    root = workspace['root']
    monkeypatch.chdir(root)
    mine = str(root / 'mine.pt')
    rows = random_text_classifier(mine, 2, 12, seed=5,
                                  label_map=['juggling', 'knitting'],
                                  logit_scale=LOGIT_SCALE)
    cfg = with_text_classifier(workspace['config'], mine)
    assert cfg.model.cls_head.num_classes == 2
    inferencer = build_inferencer(cfg, workspace['checkpoint'])
    assert inferencer.head.class_names == ['juggling', 'knitting']
    videos = [str(root / 'data' / 'val' / f'video_{i}.mp4') for i in (0, 1)]
    results = infer_videos(inferencer, videos, topk=2,
                           names=inferencer.head.class_names,
                           progress=False)
    expected = expected_scores(workspace, btsp_reference, rows, videos,
                               LOGIT_SCALE)
    for result, scores in zip(results, expected):
        best = int(scores.argmax())
        assert result['views'] == 6
        assert result['topk'][0]['name'] == ['juggling', 'knitting'][best]
        assert result['topk'][0]['score'] == pytest.approx(
            float(scores[best]), abs=1e-5)
    with pytest.raises(ValueError, match='zero-shot config'):
        with_text_classifier(osp.join(ROOT, 'tests', 'data',
                                      'tools_micro_recognizer.py'), mine)


def test_infer_cli_classifier_flag(workspace):
    root = workspace['root']
    mine = str(root / 'mine_cli.pt')
    random_text_classifier(mine, 2, 12, seed=6, label_map=['yoga', 'zumba'])
    out = root / 'infer.json'
    with in_process(root):
        assert infer_tool.main([
            workspace['config'], workspace['checkpoint'],
            str(root / 'data' / 'val' / 'video_0.mp4'), '--classifier', mine,
            '--topk', '2', '--out', str(out)
        ]) == 0
    summary = json.loads(out.read_text())
    assert summary['classifier'] == mine
    names = {entry['name'] for entry in summary['results'][0]['topk']}
    assert names == {'yoga', 'zumba'}
