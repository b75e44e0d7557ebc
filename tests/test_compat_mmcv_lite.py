"""The mmcv-lite import warning is silenced, and only that warning."""
import subprocess
import sys

from mmsparseformer import compat


def run_python(code):
    return subprocess.run([sys.executable, '-W', 'default', '-c', code],
                          capture_output=True, text=True, check=True)


def test_mmcv_lite_detected():
    # the pinned set installs mmcv-lite, which has no compiled ops
    assert compat.mmcv_ops_missing()
    assert 'mmcv_lite_warning' in compat.apply_compat_fixes()


def test_import_is_quiet_but_other_warnings_show():
    result = run_python(
        'import warnings, mmsparseformer, mmaction.models\n'
        "warnings.warn('another warning', UserWarning)")
    assert 'MultiScaleDeformableAttention' not in result.stderr
    assert 'another warning' in result.stderr
