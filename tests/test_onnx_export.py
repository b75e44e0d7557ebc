"""ONNX export of a VideoSparseFormer recognizer, onnxruntime parity, and
the onnxruntime backend of tools/infer.py."""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch

onnx = pytest.importorskip(
    'onnx', reason='onnx is not installed: pip install -e .[deploy]')
ort = pytest.importorskip(
    'onnxruntime',
    reason='onnxruntime is not installed: pip install -e .[deploy]')

from mmsparseformer.apis import build_inferencer  # noqa: E402
from mmsparseformer.cli import export_onnx as export_tool  # noqa: E402
from mmsparseformer.cli import infer  # noqa: E402
from mmsparseformer.deployment import (ExportError, export_onnx,  # noqa
                                       require_onnx, verify_onnx)
from mmsparseformer.models import ClipRecognizer  # noqa: E402
from mmsparseformer.testing import (build_micro_recognizer,  # noqa: E402
                                    write_random_videos)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MICRO_CONFIG = osp.join(ROOT, 'tests', 'data', 'tools_micro_recognizer.py')
CLIP = (4, 32, 32)  # the micro config's test clip


def trained_micro(tmp_path, seed=0):
    """A micro recognizer with non-trivial weights (the zero-initialised
    adaptive parts matter), and its checkpoint."""
    model = build_micro_recognizer(
        seed=seed, adaptive_std=0.05, classifier_std=1.)
    path = tmp_path / f'micro_seed{seed}.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return model, str(path)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('onnx')
    model, checkpoint = trained_micro(tmp_path)
    path = str(tmp_path / 'micro_dynamic.onnx')
    export_onnx(model, path, (2, ) + CLIP, dynamic_batch=True)
    return dict(model=model, checkpoint=checkpoint, path=path, root=tmp_path)


def test_graph_names_dynamic_batch_and_metadata(exported):
    proto = onnx.load(exported['path'])
    onnx.checker.check_model(proto)
    (clips, ) = proto.graph.input
    assert clips.name == 'clips'
    dims = clips.type.tensor_type.shape.dim
    assert dims[0].dim_param == 'batch'
    assert [d.dim_value for d in dims[1:]] == [3, *CLIP]
    assert [o.name for o in proto.graph.output] == ['scores', 'logits']
    assert any(node.op_type == 'GridSample' for node in proto.graph.node)
    assert proto.opset_import[0].version == 20
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta['mean']) == pytest.approx([123.675, 116.28,
                                                      103.53])
    assert json.loads(meta['std']) == pytest.approx([58.395, 57.12, 57.375])
    assert json.loads(meta['clip_shape']) == [3, *CLIP]
    assert meta['num_classes'] == '5'
    # the export switched the model to the reference path and back
    backbone = exported['model'].backbone
    assert backbone.impl == 'auto' and backbone.stem.impl == 'auto'


@pytest.mark.parametrize('batch', [1, 3])
def test_onnxruntime_matches_pytorch_for_two_batch_sizes(exported, batch):
    session = ort.InferenceSession(
        exported['path'], providers=['CPUExecutionProvider'])
    generator = torch.Generator().manual_seed(batch)
    clips = torch.randn(batch, 3, *CLIP, generator=generator)
    scores, logits = session.run(['scores', 'logits'],
                                 {'clips': clips.numpy()})
    with torch.no_grad():
        want_scores, want_logits = ClipRecognizer(exported['model'])(clips)
    assert scores.shape == (batch, 5)
    np.testing.assert_allclose(logits, want_logits.numpy(), rtol=0,
                               atol=1e-4)
    np.testing.assert_allclose(scores, want_scores.numpy(), rtol=0,
                               atol=1e-4)
    np.testing.assert_allclose(scores.sum(1), 1., atol=1e-5)
    assert logits.std() > 0.1  # a non-trivial model, not constant outputs
    assert verify_onnx(exported['path'], exported['model'], [batch],
                       CLIP) < 1e-4


def test_static_batch_is_fixed(exported):
    path = str(exported['root'] / 'static.onnx')
    export_onnx(exported['model'], path, (2, ) + CLIP)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    assert session.get_inputs()[0].shape == [2, 3, *CLIP]
    with pytest.raises(Exception):
        session.run(['scores'],
                    {'clips': np.zeros((3, 3, *CLIP), np.float32)})
    assert verify_onnx(path, exported['model'], [2], CLIP) < 1e-4


def test_verify_fails_above_the_tolerance(exported):
    other, _ = trained_micro(exported['root'], seed=1)
    with pytest.raises(ExportError, match='differs from PyTorch'):
        verify_onnx(exported['path'], other, [1], CLIP)


def test_opset_too_old_for_5d_grid_sample(exported, tmp_path, capsys):
    with pytest.raises(ExportError, match='5-D .*GridSample.*opset 20'):
        export_onnx(exported['model'], str(tmp_path / 'old.onnx'),
                    (1, ) + CLIP, opset=17)
    assert export_tool.main([
        MICRO_CONFIG, exported['checkpoint'], '--out',
        str(tmp_path / 'old.onnx'), '--opset', '16'
    ]) == 1
    assert 'opset 16 is too old' in capsys.readouterr().err
    assert not (tmp_path / 'old.onnx').exists()


def test_missing_packages_give_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(ImportError, match=r'pip install -e \.\[deploy\]'):
        require_onnx()


def test_export_tool_verifies_two_batch_sizes(exported, tmp_path, capsys):
    out = tmp_path / 'tool.onnx'
    assert export_tool.main([
        MICRO_CONFIG, exported['checkpoint'], '--out',
        str(out), '--dynamic-batch', '--verify', '--benchmark', '1'
    ]) == 0
    printed = capsys.readouterr().out
    assert 'input clips 1x3x4x32x32 with a dynamic batch' in printed
    assert 'Verified with onnxruntime (batch 1, 2)' in printed
    assert 'onnxruntime' in printed and 's wall' in printed
    assert out.stat().st_size > 10000


def test_infer_with_onnxruntime_equals_pytorch(exported, tmp_path):
    videos = tmp_path / 'videos'
    write_random_videos(str(videos), 2, 5, num_frames=8, size=(32, 40),
                        list_name=None)
    (videos / 'broken.mp4').write_bytes(b'no video here' * 30)
    outputs = {}
    for backend, extra in (('pytorch', [exported['checkpoint']]),
                           ('onnxruntime', ['--onnx', exported['path']])):
        out = tmp_path / f'{backend}.json'
        assert infer.main([MICRO_CONFIG] + extra + [
            str(videos), '--topk', '5', '--out',
            str(out), '--device', 'cpu'
        ]) == 0
        summary = json.loads(out.read_text())
        assert summary['backend'] == backend
        outputs[backend] = summary['results']
    torch_results, onnx_results = outputs['pytorch'], outputs['onnxruntime']
    assert [r['file'] for r in torch_results] == \
        [r['file'] for r in onnx_results]
    for ours, theirs in zip(torch_results, onnx_results):
        if 'error' in ours:
            assert 'error' in theirs  # the broken file, on both backends
            continue
        assert [e['label'] for e in ours['topk']] == \
            [e['label'] for e in theirs['topk']]
        np.testing.assert_allclose([e['score'] for e in ours['topk']],
                                   [e['score'] for e in theirs['topk']],
                                   atol=1e-5)


def test_static_onnx_pads_the_last_views_chunk(exported):
    """6 views through a batch-4 model: one chunk of 4, one padded."""
    path = str(exported['root'] / 'batch4.onnx')
    export_onnx(exported['model'], path, (4, ) + CLIP)
    video_dir = exported['root'] / 'one'
    write_random_videos(str(video_dir), 1, 5, num_frames=8, list_name=None)
    video = str(video_dir / 'video_0.mp4')
    runtime = build_inferencer(MICRO_CONFIG, path, backend='onnxruntime')
    assert runtime.view_batch == 4
    reference = build_inferencer(MICRO_CONFIG, exported['checkpoint'])
    scores, views = runtime.predict(video)
    assert views == 6
    torch.testing.assert_close(scores, reference(video), rtol=0, atol=1e-5)


def test_onnx_shape_must_fit_the_test_pipeline(exported):
    path = str(exported['root'] / 'other_shape.onnx')
    export_onnx(exported['model'], path, (1, 8, 32, 32))
    with pytest.raises(ValueError, match='--shape B 4 32 32'):
        build_inferencer(MICRO_CONFIG, path, backend='onnxruntime')


def test_infer_command_line_model_arguments():
    args = infer.parse_args(['cfg.py', '--onnx', 'm.onnx', 'a.mp4', 'b/'])
    assert (args.backend, args.checkpoint, args.inputs) == \
        ('onnxruntime', 'm.onnx', ['a.mp4', 'b/'])
    args = infer.parse_args(['cfg.py', 'm.onnx', 'a.mp4'])
    assert (args.backend, args.checkpoint) == ('onnxruntime', 'm.onnx')
    args = infer.parse_args(['cfg.py', 'epoch_1.pth', 'a.mp4'])
    assert (args.backend, args.inputs) == ('pytorch', ['a.mp4'])
    for bad in (['cfg.py', 'only_checkpoint.pth'],
                ['cfg.py', '--onnx', 'm.onnx', '--backend', 'pytorch',
                 'a.mp4']):
        with pytest.raises(SystemExit):
            infer.parse_args(bad)
