"""tools/analysis/benchmark.py: models from their registry configs, their
test-protocol shapes, peak memory, the table of ratios; end to end at tiny
sizes."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmaction.registry import MODELS

from mmsparseformer.analysis.benchmark import (REFERENCE, ModelResult,
                                               PeakMemory, PhaseResult,
                                               benchmark_model_cfg,
                                               model_specs, ratio_table,
                                               release_memory, results_table,
                                               timed_calls)
from mmsparseformer.cli import benchmark
from mmsparseformer.utils.config import read_view_protocol

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MICRO_CONFIG = osp.join(ROOT, 'tests', 'data', 'tools_micro_recognizer.py')


def test_models_and_their_kinetics_protocols():
    specs = dict(model_specs())
    assert list(specs) == [
        REFERENCE, 'Swin-T', 'TimeSformer', 'X3D-M', 'MViTv2-S'
    ]
    shapes = {
        name: read_view_protocol(Config.fromfile(path)).shape
        for name, path in specs.items()
    }
    assert shapes == {
        REFERENCE: (32, 224, 224),
        'Swin-T': (32, 224, 224),
        'TimeSformer': (8, 224, 224),
        'X3D-M': (16, 256, 256),
        'MViTv2-S': (16, 224, 224),
    }
    with pytest.raises(KeyError, match='Unknown models'):
        model_specs(['ResNet'])


def test_timed_calls_warms_up_then_times_each_call():
    calls = []
    wall, cpu = timed_calls(lambda: calls.append(1), iters=3, warmup=2)
    assert len(calls) == 5 and wall >= 0 and cpu >= 0


def test_model_cfg_has_no_pretrained_weights_and_fits_the_shape():
    specs = dict(model_specs())
    timesformer = benchmark_model_cfg(
        Config.fromfile(specs['TimeSformer']), (4, 32, 32))
    assert timesformer['backbone']['pretrained'] is None
    assert (timesformer['backbone']['num_frames'],
            timesformer['backbone']['img_size']) == (4, 32)
    mvit = benchmark_model_cfg(Config.fromfile(specs['MViTv2-S']), (4, 32, 32))
    assert (mvit['backbone']['temporal_size'],
            mvit['backbone']['spatial_size']) == (4, 32)


def test_cpu_peak_memory_sees_a_large_allocation():
    memory = PeakMemory(torch.device('cpu'))
    if not memory.cpu_resettable:
        pytest.skip('/proc/self/clear_refs is not writable here')
    release_memory()
    baseline = memory.current()
    memory.reset()
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    del block
    assert memory.peak() - baseline >= 60
    release_memory()
    memory.reset()
    assert memory.peak() - baseline < 60


def test_tables_and_ratios_to_the_reference():
    reference = ModelResult(REFERENCE, 'a', (8, 32, 32), 1.,
                            PhaseResult(1, 2, 0.5, 1., 100.),
                            PhaseResult(2, 2, 2., 4., 400.))
    other = ModelResult('Other', 'b', (8, 32, 32), 2.,
                        PhaseResult(1, 2, 1.5, 3., 250.), None)
    broken = ModelResult('Broken', 'c', (), 0., error='OOM')
    results = [reference, other, broken]

    def cells(line):
        return [c.strip() for c in line.split('|')[1:-1]]

    lines = results_table(results).splitlines()
    assert cells(lines[2]) == [
        REFERENCE, '8x32x32', '1.0', '2', '1', '100', '1', '2', '400'
    ]
    assert cells(lines[3]) == [
        'Other', '8x32x32', '2.0', '0.667', '3', '250', '-', '-', '-'
    ]
    assert 'error: OOM' in lines[4]
    ratios = ratio_table(results).splitlines()
    assert cells(ratios[2]) == [REFERENCE] + ['1.00'] * 6
    # 1.5 s vs 0.5 s wall, 3 vs 1 CPU-s, 250 vs 100 MB
    assert cells(ratios[3]) == ['Other', '3.00', '3.00', '2.50', '-', '-',
                                '-']
    assert len(ratios) == 4  # the broken model has no ratios


def test_benchmark_reference_only_at_tiny_size(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    assert benchmark.main([
        '--models', REFERENCE, '--vsf-config', MICRO_CONFIG, '--iters', '1',
        '--warmup', '0', '--threads', '1', '--train-batch', '1', '--json',
        str(out), '--extra', f'micro again={MICRO_CONFIG}'
    ]) == 0
    results = json.loads(out.read_text())['results']
    assert [r['name'] for r in results] == [REFERENCE, 'micro again']
    result = results[0]
    assert result['shape'] == [4, 32, 32]  # from the micro test pipeline
    assert result['inference']['clips_per_s'] > 0
    assert result['training']['clips_per_s'] > 0
    assert result['training']['batch'] == 1
    assert 'Ratios to VideoSparseFormer-T' in capsys.readouterr().out


def test_benchmark_cfg_options_reach_the_model(tmp_path, monkeypatch):
    """--cfg-options changes every benchmarked config (here gradient
    checkpointing, which the training step then uses)."""
    built = []
    real_build = MODELS.build

    def build(cfg, *args, **kwargs):
        model = real_build(cfg, *args, **kwargs)
        built.append(model)
        return model

    monkeypatch.setattr(MODELS, 'build', build)
    assert benchmark.main([
        '--models', REFERENCE, '--vsf-config', MICRO_CONFIG, '--iters', '1',
        '--warmup', '0', '--threads', '1', '--train-batch', '1',
        '--cfg-options', 'model.backbone.with_cp=True'
    ]) == 0
    backbones = [m for m in built if type(m).__name__ == 'VideoSparseFormer']
    assert backbones and all(b.with_cp for b in backbones)


def test_benchmark_argument_errors(capsys):
    assert benchmark.main(['--models', 'nope']) == 2
    assert 'Unknown models' in capsys.readouterr().err
    assert benchmark.main(['--iters', '0']) == 2
    assert benchmark.main(['--extra', 'no-config']) == 2
    assert "--extra takes NAME=CONFIG, got 'no-config'" in \
        capsys.readouterr().err


@pytest.mark.slow
def test_benchmark_all_models_end_to_end_at_tiny_sizes(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    code = benchmark.main([
        '--shape', '4', '32', '32', '--iters', '1', '--warmup', '0',
        '--threads', '1', '--train-batch', '1', '--json',
        str(out)
    ])
    printed = capsys.readouterr().out
    assert code == 0, printed
    results = json.loads(out.read_text())['results']
    assert [r['name'] for r in results] == [
        REFERENCE, 'Swin-T', 'TimeSformer', 'X3D-M', 'MViTv2-S'
    ]
    for result in results:
        assert result['error'] is None
        assert result['shape'] == [4, 32, 32]
        assert result['params_m'] > 1
        for phase in ('inference', 'training'):
            assert result[phase]['clips_per_s'] > 0
            assert result[phase]['wall_s'] > 0
    table = [line for line in printed.splitlines() if line.startswith('| ')]
    assert len(table) == 12  # two tables: header + 5 models each
    assert table[7].startswith(f'| {REFERENCE} | 1.00 ')
