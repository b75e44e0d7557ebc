"""Compiled CPU kernels of float32 inference: building, loading, and when
they may run.

``csrc/`` holds four fused float32 inference kernels, registered as
``torch.ops.mmsparseformer.early_conv`` (convolution, pool, ReLU,
standardisation), ``token_attention`` (many small heads), ``sample_mix``
(trilinear sampling and adaptive mixing) and ``linear_gelu`` (the MLP's
first layer). PyTorch's JIT extension builder compiles them with the
system's C++ compiler (about 25 s on 2 cores) and caches the library under
``TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``); its name
carries the torch version, the CPU capability and a digest of the sources,
so a cache shared between machines, torch versions or checkouts never
loads a mismatched build.

When they are built (docs/model.md, "Implementations"): ``make install``
and ``python -m mmsparseformer.ops`` build them ahead; otherwise the first
float32 CPU inference call that could use them builds them, after one line
at INFO level through mmengine's logger that says so. Where they cannot be
built (no compiler) the reason is printed once on stderr and the ops run
their PyTorch implementation (same outputs). ``MMSPARSEFORMER_CPU_KERNELS=0``
never builds or uses them.
"""
import glob
import hashlib
import logging
import os
import os.path as osp
import re
import sys
import threading
import time
from typing import Optional

import torch
from mmengine.logging import print_log

#: Environment switch: ``0`` disables the compiled kernels.
ENV_SWITCH = 'MMSPARSEFORMER_CPU_KERNELS'
CSRC = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc')
#: One translation unit per kernel, and the registration.
SOURCES = [
    osp.join(CSRC, name) for name in ('early_conv.cpp', 'attention.cpp',
                                      'sample_mix.cpp', 'linear_gelu.cpp',
                                      'register.cpp')
]
#: Head dimensions the attention kernel is instantiated for.
ATTENTION_HEAD_DIMS = (1, 2, 4, 6, 8, 12, 16)
#: The kernels' vector width (``kLanes`` in ``csrc/vec.h``): the mixing
#: kernel's channels and the linear + GELU kernel's output features must be
#: multiples of it.
VECTOR_LANES = 16

# The flags ATen builds its kernels of each capability with.
_CAPABILITY_FLAGS = {
    'AVX512': ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512dq',
               '-mavx2', '-mfma', '-mf16c'],
    'AVX2': ['-mavx2', '-mfma', '-mf16c'],
}
# Reductions over tokens and channels vectorise only when float sums may be
# reassociated; infinities stay exact (no -ffinite-math-only).
_MATH_FLAGS = ['-O3', '-ffp-contract=fast', '-fno-math-errno',
               '-fno-trapping-math',
               '-fassociative-math', '-fno-signed-zeros']

_lock = threading.Lock()
_state = {'tried': False, 'loaded': False, 'error': None}


def library_name() -> str:
    """``mmsparseformer_cpu_<capability>_torch<version>_<sources>``: builds
    of other sources (another checkout or release) never replace each
    other in a shared cache."""
    capability = torch.backends.cpu.get_cpu_capability()
    version = re.sub(r'[^0-9A-Za-z]+', '_', torch.__version__)
    return (f'mmsparseformer_cpu_{capability.lower()}_torch{version}_'
            f'{source_digest()[:8]}')


def source_digest() -> str:
    """Hash of every file in ``csrc`` (headers included)."""
    digest = hashlib.sha1()
    for path in sorted(glob.glob(osp.join(CSRC, '*'))):
        with open(path, 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def compile_flags() -> list:
    """Compiler flags: optimisation, OpenMP and the CPU's vector ISA.

    The sources' digest rides along as a define: torch's builder versions a
    build by its sources and flags, and would not see a changed header.
    """
    capability = torch.backends.cpu.get_cpu_capability()
    return (_MATH_FLAGS + ['-fopenmp'] +
            _CAPABILITY_FLAGS.get(capability, []) +
            [f'-DMMSPARSEFORMER_SOURCES={source_digest()}'])


def _ninja_on_path() -> None:
    """Put the ``ninja`` wheel's binary on PATH (torch's builder runs it)."""
    try:
        import ninja
    except ImportError:
        return
    path = os.environ.get('PATH', '')
    if ninja.BIN_DIR not in path.split(os.pathsep):
        os.environ['PATH'] = os.pathsep.join([ninja.BIN_DIR, path])


def _notice(message: str) -> None:
    """One line on stderr: a tool's stdout (tables, results) stays clean."""
    print(f'mmsparseformer: {message}', file=sys.stderr, flush=True)


def is_built(name: Optional[str] = None) -> bool:
    """Whether the library is in the extension cache already."""
    from torch.utils.cpp_extension import get_default_build_root
    name = name or library_name()
    root = os.environ.get('TORCH_EXTENSIONS_DIR') or get_default_build_root()
    return bool(
        glob.glob(osp.join(root, name, f'{name}*.so'))
        or glob.glob(osp.join(root, '*', name, f'{name}*.so')))


def _build(verbose: bool) -> None:
    from torch.utils.cpp_extension import load
    _ninja_on_path()
    name = library_name()
    compiling = not is_built(name)
    if compiling:
        print_log(
            f'mmsparseformer: building the CPU inference kernels {name} '
            'now (once per machine, torch version and release, about 25 s; '
            '`python -m mmsparseformer.ops` builds them ahead, '
            f"impl='pytorch' or {ENV_SWITCH}=0 skips them)",
            logger='current', level=logging.INFO)
    start = time.perf_counter()
    load(name, SOURCES, extra_cflags=compile_flags(),
         extra_ldflags=['-fopenmp'], is_python_module=False, verbose=verbose)
    if compiling:
        print_log(f'mmsparseformer: built the CPU kernels in '
                  f'{time.perf_counter() - start:.0f} s', logger='current',
                  level=logging.INFO)


def enabled() -> bool:
    """False when ``MMSPARSEFORMER_CPU_KERNELS=0``."""
    return os.environ.get(ENV_SWITCH, '1').strip().lower() not in (
        '0', 'false', 'off', 'no')


def load_cpu_kernels(verbose: bool = False) -> bool:
    """Build (once) and load the kernels; False where they are unavailable.

    The first failure is printed with its reason on stderr; later calls
    return False at once.
    """
    if not enabled():
        return False
    if _state['tried']:
        return _state['loaded']
    with _lock:
        if not _state['tried']:
            try:
                _build(verbose)
                _state['loaded'] = True
            except Exception as error:  # compiler missing, build failed
                _state['error'] = f'{type(error).__name__}: {error}'
                _notice('the CPU kernels could not be built; the ops run '
                        'their PyTorch implementation instead (same '
                        'outputs, slower). Reason: '
                        f'{_state["error"][:2000]}')
            _state['tried'] = True
    return _state['loaded']


def load_error() -> Optional[str]:
    """Why the last build failed, or None."""
    return _state['error']


def _cpu_autocast() -> bool:
    try:
        return torch.is_autocast_enabled('cpu')
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def kernels_unavailable(*tensors: torch.Tensor) -> Optional[str]:
    """Why the kernels cannot compute an op on ``tensors`` (its inputs and
    parameters), or None when they can.

    They are inference kernels on float32 CPU tensors: not when autograd
    must record the op, under CPU autocast, or while tracing / scripting /
    compiling (exporters see the PyTorch ops). Loading (and, the first time
    on a machine, building) happens here, once.
    """
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return 'the model is being traced or scripted'
    if hasattr(torch, 'compiler') and torch.compiler.is_compiling():
        return 'the model is being compiled'
    for tensor in tensors:
        if tensor.device.type != 'cpu' or tensor.dtype != torch.float32:
            return ('they take float32 CPU tensors, got '
                    f'{tensor.dtype} on {tensor.device}')
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return 'autograd must record the op (they have no backward)'
    if _cpu_autocast():
        return 'CPU autocast is on'
    if not enabled():
        return f'{ENV_SWITCH}=0 turns them off'
    if not load_cpu_kernels():
        return f'they could not be built ({load_error()})'
    return None


__all__ = [
    'ATTENTION_HEAD_DIMS', 'ENV_SWITCH', 'VECTOR_LANES', 'compile_flags',
    'enabled', 'is_built', 'kernels_unavailable', 'library_name',
    'load_cpu_kernels', 'load_error'
]
