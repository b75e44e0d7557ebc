"""The speed comparison script runs end to end and reports equal outputs."""
import json

import pytest

from mmsparseformer.cli import speed_vs_reference
from mmsparseformer.ops.kernels import load_cpu_kernels


@pytest.mark.slow
def test_speed_script_micro(tmp_path, capsys):
    out = str(tmp_path / 'speed.json')
    assert speed_vs_reference.main([
        '--arch', 'micro', '--replicates', '2', '--shape', '4', '32', '32',
        '--batches', '1', '2', '--train-batch', '2', '--iters', '1',
        '--warmup', '0', '--num-classes', '5', '--matmul-size', '256',
        '--json', out
    ]) == 0
    printed = capsys.readouterr().out
    assert 'floor' in printed and 'speed-up' in printed
    assert 'CPU kernels: mmsparseformer_cpu_' in printed
    kernels = load_cpu_kernels()
    assert ('in use for inference' in printed) == kernels
    result = json.load(open(out))
    assert [row['case'] for row in result['rows']] == [
        'inference, batch 1', 'inference, batch 2',
        'train step (fwd+bwd), batch 2'
    ]
    for row in result['rows']:
        assert row['max_diff'] < 1e-5
        paths = ['reference', 'fast']
        if kernels and not row['train']:
            paths.append('fast_pytorch')  # the kernels suspended
        for path in paths:
            assert row[path]['wall'] > 0
    assert result['macs'] > 0 and result['floor'] > 0
