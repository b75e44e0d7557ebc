"""Speed and peak memory of recognizers built from their configs.

Every model is built from its MMAction2 config through the registry (random
weights, nothing downloaded) and fed one view of the shape its Kinetics
test pipeline produces (or a common ``shape``), in one process, on one
device, with the same thread count. Measured per model:

* inference: clips/s of the recognizer's forward (backbone, neck, head) on
  a normalised clip batch, wall and CPU time;
* a training step: ``model.train_step`` (data preprocessor, forward, loss,
  backward, AdamW step) on random ``uint8`` clips with random labels;
* peak memory of each phase: on CUDA ``torch.cuda.max_memory_allocated``;
  on the CPU the resident-set high-water mark (``VmHWM``, reset through
  ``/proc/self/clear_refs`` before each phase) above the resident set
  before the model was built, so weights, gradients, optimizer state and
  activations count, the interpreter and libraries do not.
"""
import ctypes
import gc
import os
import os.path as osp
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

import mmaction
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from ..models import ClipRecognizer
from ..utils.config import (PROJECT_CONFIGS, load_config,
                            model_cfg_without_weights, read_view_protocol)
from ..utils.markdown import markdown_table

#: The configs of the models compared with VideoSparseFormer-T, from the
#: mmaction2 wheel (``mmaction/.mim/configs``).
MMACTION_CONFIGS = OrderedDict([
    ('Swin-T', 'recognition/swin/swin-tiny-p244-w877_in1k-pre_8xb8-amp-'
     '32x2x1-30e_kinetics400-rgb.py'),
    ('TimeSformer', 'recognition/timesformer/timesformer_divST_8xb8-8x32x1-'
     '15e_kinetics400-rgb.py'),
    ('X3D-M', 'recognition/x3d/x3d_m_16x5x1_facebook-kinetics400-rgb.py'),
    ('MViTv2-S', 'recognition/mvit/mvit-small-p244_32xb16-16x4x1-200e_'
     'kinetics400-rgb.py'),
])
#: Name of the reference model of the ratios.
REFERENCE = 'VideoSparseFormer-T'
#: The project's VideoSparseFormer-T Kinetics-400 config.
VSF_CONFIG = osp.join(
    PROJECT_CONFIGS, 'recognition', 'videosparseformer',
    'videosparseformer-tiny_in1k-pre_8xb8-32x2x1-30e_kinetics400-rgb.py')

#: Backbone arguments that fix the input size of position embeddings, set
#: from ``(T, H, W)`` when a common shape is given.
SIZE_ARGS = {
    'TimeSformer': dict(num_frames=0, img_size=1),
    'MViT': dict(temporal_size=0, spatial_size=1),
}


def mmaction_config_path(relative: str) -> str:
    """A config shipped in the mmaction2 wheel."""
    path = osp.join(osp.dirname(mmaction.__file__), '.mim', 'configs',
                    relative)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{relative} is not in the installed '
                                f'mmaction2 wheel ({path})')
    return path


def default_vsf_config() -> str:
    """The project's VideoSparseFormer-T Kinetics-400 config (a clear error
    where the package runs without its repository's ``configs/``)."""
    if not osp.isfile(VSF_CONFIG):
        raise FileNotFoundError(
            f'{VSF_CONFIG} not found (configs/ of the mmsparseformer '
            'repository); pass --vsf-config')
    return VSF_CONFIG


@dataclass
class PhaseResult:
    """Timing and memory of one phase (inference or training)."""
    batch: int
    iters: int
    wall_s: float  # per iteration
    cpu_s: float  # per iteration, all threads of the process
    peak_mb: float

    @property
    def clips_per_s(self) -> float:
        return self.batch / self.wall_s


@dataclass
class ModelResult:
    """Benchmark of one model."""
    name: str
    config: str
    shape: Tuple[int, int, int]
    params_m: float
    inference: Optional[PhaseResult] = None
    training: Optional[PhaseResult] = None
    error: Optional[str] = None
    extra: Dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        result = asdict(self)
        for phase in ('inference', 'training'):
            value = getattr(self, phase)
            if value is not None:
                result[phase]['clips_per_s'] = value.clips_per_s
        return result


# ----------------------------------------------------------------- memory
def _read_status(key: str) -> Optional[float]:
    """A ``/proc/self/status`` field in MB (Linux), else None."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def release_memory() -> None:
    """Collect garbage and give freed heap memory back to the OS, so that
    one model's memory does not hide the next one's."""
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory of a phase, in MB: CUDA allocations on a CUDA device;
    the process's resident-set high-water mark on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cpu_resettable = self._reset_cpu_peak()

    @staticmethod
    def _reset_cpu_peak() -> bool:
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # resets VmHWM to the current VmRSS
            return True
        except OSError:
            return False

    def current(self) -> float:
        if self.device.type == 'cuda':
            return torch.cuda.memory_allocated(self.device) / 2**20
        rss = _read_status('VmRSS')
        if rss is None:
            import resource
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return rss

    def reset(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._reset_cpu_peak()

    def peak(self) -> float:
        if self.device.type == 'cuda':
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        peak = _read_status('VmHWM')
        if peak is None:
            import resource
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak


# ----------------------------------------------------------------- models
def benchmark_model_cfg(cfg: Config,
                        shape: Optional[Tuple[int, int, int]]) -> dict:
    """``cfg.model`` without pretrained weights, with size-dependent
    backbone arguments set to ``shape`` when given."""
    model_cfg = model_cfg_without_weights(cfg.model)
    backbone = model_cfg.get('backbone', {})
    if shape is not None:
        for arg, axis in SIZE_ARGS.get(backbone.get('type'), {}).items():
            backbone[arg] = shape[axis]
    return model_cfg


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed_calls(step: Callable[[], object],
                iters: int,
                warmup: int = 1,
                device: Union[str, torch.device] = 'cpu'
                ) -> Tuple[float, float]:
    """Wall and CPU seconds per call of ``step`` after ``warmup`` calls
    (CUDA work is waited for before each clock reading); CPU time counts
    every thread of the process."""
    device = torch.device(device)
    for _ in range(warmup):
        step()
    _sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
        step()
    _sync(device)
    return ((time.perf_counter() - wall) / iters,
            (time.process_time() - cpu) / iters)


def run_inference(model, shape, batch: int, iters: int, warmup: int,
                  device: torch.device, memory: PeakMemory,
                  baseline: float) -> PhaseResult:
    """Forward passes of one view per clip (backbone, neck, head)."""
    clip_model = ClipRecognizer(model).eval()
    clips = torch.randn(batch, 3, *shape, device=device)
    memory.reset()

    @torch.no_grad()
    def step():
        clip_model(clips)

    wall, cpu = timed_calls(step, iters, warmup, device)
    return PhaseResult(batch, iters, wall, cpu, memory.peak() - baseline)


def run_training(model, shape, batch: int, iters: int, warmup: int,
                 device: torch.device, memory: PeakMemory,
                 baseline: float) -> PhaseResult:
    """``model.train_step`` with AdamW on random clips and labels."""
    model.train()
    wrapper = OptimWrapper(
        torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05))
    num_classes = model.cls_head.num_classes
    generator = torch.Generator().manual_seed(0)
    data = dict(
        inputs=[
            torch.randint(
                0, 256, (1, 3, *shape), dtype=torch.uint8,
                generator=generator) for _ in range(batch)
        ],
        data_samples=[
            ActionDataSample().set_gt_label(
                int(torch.randint(num_classes, (1, ), generator=generator)))
            for _ in range(batch)
        ])
    memory.reset()
    wall, cpu = timed_calls(lambda: model.train_step(data, wrapper), iters,
                            warmup, device)
    peak = memory.peak() - baseline
    model.eval()
    del wrapper
    return PhaseResult(batch, iters, wall, cpu, peak)


def warm_up_runtime(device: str = 'cpu') -> None:
    """Run a small training step once, so that the first benchmarked model
    is not charged for the one-off start of thread pools and allocators."""
    device = torch.device(device)
    model = torch.nn.Sequential(
        torch.nn.Conv3d(3, 8, 3), torch.nn.Flatten(),
        torch.nn.LazyLinear(4)).to(device)
    model(torch.randn(2, 3, 4, 8, 8, device=device))
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 3, 4, 8, 8, device=device)).sum().backward()
    optimizer.step()
    with torch.no_grad():
        torch.nn.functional.scaled_dot_product_attention(
            *torch.randn(3, 1, 2, 4, 8, device=device))
    del model, optimizer
    release_memory()


def benchmark_model(name: str,
                    config,
                    shape: Optional[Tuple[int, int, int]] = None,
                    device: str = 'cpu',
                    iters: int = 3,
                    warmup: int = 1,
                    infer_batch: int = 1,
                    train_batch: int = 2,
                    train: bool = True) -> ModelResult:
    """Build ``config``'s recognizer and time inference and a training
    step on one view of its test protocol (or ``shape``)."""
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    view_shape = tuple(shape) if shape else read_view_protocol(cfg).shape
    device = torch.device(device)
    release_memory()
    memory = PeakMemory(device)
    baseline = memory.current()
    model = MODELS.build(benchmark_model_cfg(cfg, shape)).to(device).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    result = ModelResult(
        name=name,
        config=config if isinstance(config, str) else '<config object>',
        shape=view_shape,
        params_m=params)
    result.inference = run_inference(model, view_shape, infer_batch, iters,
                                     warmup, device, memory, baseline)
    if train:
        result.training = run_training(model, view_shape, train_batch, iters,
                                       warmup, device, memory, baseline)
    del model
    release_memory()
    return result


# ----------------------------------------------------------------- report
def results_table(results: Sequence[ModelResult]) -> str:
    """Measured numbers: clips/s (wall), CPU seconds per clip (all threads)
    and peak memory of inference and the training step."""
    header = ('model', 'input TxHxW', 'params M', 'infer clips/s',
              'infer CPU s/clip', 'infer peak MB', 'train clips/s',
              'train CPU s/clip', 'train peak MB')
    rows = [header]
    for r in results:
        cells = [r.name, 'x'.join(map(str, r.shape))]
        if r.error:
            rows.append(tuple(cells + [f'error: {r.error}'] + [''] *
                              (len(header) - 3)))
            continue
        cells.append(f'{r.params_m:.1f}')
        for phase in (r.inference, r.training):
            if phase is None:
                cells += ['-'] * 3
                continue
            cells += [
                f'{phase.clips_per_s:.3g}', f'{phase.cpu_s / phase.batch:.3g}',
                f'{phase.peak_mb:.0f}'
            ]
        rows.append(tuple(cells))
    return markdown_table(rows)


def ratio_table(results: Sequence[ModelResult],
                reference: str = REFERENCE) -> str:
    """Each model's wall time per clip, CPU time per clip and peak memory
    divided by ``reference``'s (above 1: slower or more memory)."""
    ref = next((r for r in results if r.name == reference and not r.error),
               None)
    header = ('model', 'infer time', 'infer CPU', 'infer mem', 'train time',
              'train CPU', 'train mem')
    rows = [header]
    for r in results:
        if r.error or ref is None:
            continue
        cells = [r.name]
        for phase, ref_phase in ((r.inference, ref.inference),
                                 (r.training, ref.training)):
            if phase is None or ref_phase is None:
                cells += ['-'] * 3
                continue
            for value, ref_value in (
                (phase.wall_s / phase.batch,
                 ref_phase.wall_s / ref_phase.batch),
                (phase.cpu_s / phase.batch, ref_phase.cpu_s / ref_phase.batch),
                (phase.peak_mb, ref_phase.peak_mb)):
                cells.append(f'{value / ref_value:.2f}'
                             if ref_value > 0 else '-')
        rows.append(tuple(cells))
    return markdown_table(rows)


def environment() -> Dict[str, object]:
    """What the numbers depend on."""
    info = dict(
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cpu_count=os.cpu_count(),
    )
    try:
        info['load_average'] = os.getloadavg()
    except OSError:
        pass
    if torch.cuda.is_available():
        info['cuda_device'] = torch.cuda.get_device_name()
    return info


def model_specs(names: Optional[Sequence[str]] = None,
                vsf_config=None) -> List[Tuple[str, object]]:
    """``(name, config)`` of the models to benchmark, reference first."""
    if vsf_config is None:
        vsf_config = default_vsf_config()
    specs = [(REFERENCE, vsf_config)] + [
        (name, mmaction_config_path(path))
        for name, path in MMACTION_CONFIGS.items()
    ]
    if names:
        known = {name.lower(): (name, config) for name, config in specs}
        unknown = [n for n in names if n.lower() not in known]
        if unknown:
            raise KeyError(f'Unknown models {unknown}; choose from '
                           f'{[name for name, _ in specs]}')
        wanted = {n.lower() for n in names}
        specs = [(name, config) for name, config in specs
                 if name.lower() in wanted]
    return specs
