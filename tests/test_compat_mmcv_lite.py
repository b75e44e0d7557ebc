"""The import warnings of the pinned stack (mmcv-lite, pkg_resources) are
silenced, and only those warnings."""
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
        'from mmengine.utils import is_installed\n'
        "assert is_installed('torch')\n"  # imports pkg_resources
        "warnings.warn('another warning', UserWarning)")
    assert 'MultiScaleDeformableAttention' not in result.stderr
    assert 'pkg_resources' not in result.stderr
    assert 'another warning' in result.stderr
