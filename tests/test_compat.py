"""The compatibility fixes of ``mmsparseformer.compat`` (applied on import):
registry builds despite the wheel's missing DRN package, and runner
checkpoints under torch's ``weights_only`` loading without opening it up."""
import os.path as osp
import pickle
import uuid

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import mmsparseformer  # noqa: F401
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmsparseformer import compat
from mmsparseformer.testing import MICRO_ARCH

CONFIGS = osp.join(osp.dirname(__file__), 'data', 'configs')
MICRO_CONFIG = osp.join(CONFIGS, 'vsf_micro_2xb2-4x1x1-2e_tinyvideo-rgb.py')
serialization = torch.serialization


@pytest.fixture(autouse=True)
def mmaction_scope():
    """Build with MMAction2's registries, as its configs' default_scope."""
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def mmaction_dir():
    import mmaction
    return osp.dirname(mmaction.__file__)


# --------------------------------------------------------------------------
# The missing DRN package of the mmaction2 1.2.0 wheel
# --------------------------------------------------------------------------
def test_wheel_lacks_drn_and_the_fix_is_applied():
    drn_file = osp.join(mmaction_dir(), 'models', 'localizers', 'drn',
                        'drn.py')
    if osp.exists(drn_file):
        pytest.skip('this mmaction2 ships the DRN package; no fix needed')
    assert 'missing_drn' in compat.apply_compat_fixes()
    import mmaction.models  # noqa: F401  (failed before the fix)
    from mmaction.models.localizers.drn.drn import DRN
    assert DRN is compat.MissingDRN


def test_building_drn_says_why_it_is_missing():
    with pytest.raises(ImportError) as info:
        MODELS.build(dict(type='DRN', vocab_size=10))
    message = str(info.value)
    assert 'mmaction/models/localizers/drn' in message
    assert 'open-mmlab/mmaction2#2714' in message


def test_mmaction_config_builds_through_the_registry():
    # One of MMAction2's own configs, shipped in the wheel.
    cfg = Config.fromfile(
        osp.join(mmaction_dir(), '.mim', 'configs', 'recognition', 'x3d',
                 'x3d_s_13x6x1_facebook-kinetics400-rgb.py'))
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'Recognizer3D'
    assert type(model.backbone).__name__ == 'X3D'
    assert model.cls_head.num_classes == 400


def test_micro_config_uses_micro_arch():
    cfg = Config.fromfile(MICRO_CONFIG)
    assert cfg.model.backbone.arch == dict(
        MICRO_ARCH, sampling_units=tuple(MICRO_ARCH['sampling_units']))


def test_recognizer_from_config_one_train_step_on_cpu():
    torch.manual_seed(0)
    cfg = Config.fromfile(MICRO_CONFIG)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model).__name__ == 'Recognizer3D'
    assert type(model.backbone).__name__ == 'VideoSparseFormer'
    from mmengine.optim import build_optim_wrapper
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)

    # Two uint8 clips as the data loader delivers them: views x C x T x H x W.
    inputs = [
        torch.randint(0, 256, (1, 3, 4, 32, 32), dtype=torch.uint8)
        for _ in range(2)
    ]
    samples = [ActionDataSample().set_gt_label(label) for label in (0, 2)]
    data = dict(inputs=inputs, data_samples=samples)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}

    log_vars = model.train_step(data, optim_wrapper)

    assert torch.isfinite(log_vars['loss'])
    assert log_vars['loss'] > 0
    changed = {
        name for name, value in model.named_parameters()
        if not torch.equal(value, before[name])
    }
    # the update reaches the head and the sampling backbone alike
    assert 'cls_head.fc_cls.weight' in changed
    assert any(name.startswith('backbone.') for name in changed)
    assert len(changed) > len(before) // 2


# --------------------------------------------------------------------------
# weights_only loading of runner checkpoints
# --------------------------------------------------------------------------
class ToyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - labels)**2).mean())
        return out


class ToyDataset(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.tensor([index, 1.]), labels=float(index))


def toy_runner(work_dir, max_epochs=1):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'compat_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(
            type='MultiStepLR', milestones=[1], gamma=0.1, begin=0, end=10),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmaction')


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    """A checkpoint written by an mmengine Runner after one epoch."""
    work_dir = tmp_path_factory.mktemp('runner')
    runner = toy_runner(work_dir)
    runner.train()
    path = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(path)
    return path


@pytest.fixture
def only_safe_globals():
    """Run with a chosen allow-list; restore the global one afterwards."""
    saved = serialization.get_safe_globals()
    serialization.clear_safe_globals()
    yield
    serialization.clear_safe_globals()
    serialization.add_safe_globals(saved)


def test_weights_only_stays_the_default():
    if not compat.loads_weights_only_by_default():
        pytest.skip('this torch does not load with weights_only=True')
    assert 'weights_only_runner_checkpoints' in compat.apply_compat_fixes()
    # the project never switches weights_only off
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in __import__('os').environ
    allowed = serialization.get_safe_globals()
    assert getattr not in allowed  # only inside the runner's own loads


def test_runner_checkpoint_needs_exactly_the_allow_listed_globals(
        runner_checkpoint, only_safe_globals):
    needed = compat.runner_checkpoint_globals() + [getattr]
    with serialization.safe_globals(needed):
        checkpoint = torch.load(runner_checkpoint, weights_only=True)
    assert checkpoint['meta']['epoch'] == 1
    # leave any one of them out and the checkpoint no longer loads
    for left_out in needed:
        subset = [g for g in needed if g is not left_out]
        with serialization.safe_globals(subset):
            with pytest.raises(pickle.UnpicklingError):
                torch.load(runner_checkpoint, weights_only=True)


def test_runner_checkpoint_refused_outside_the_runner(runner_checkpoint):
    # getattr is allowed only while the runner loads its own checkpoints
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        torch.load(runner_checkpoint)


def test_runner_resumes_and_loads_its_checkpoint(runner_checkpoint, tmp_path):
    saved = torch.load(runner_checkpoint, weights_only=False)
    runner = toy_runner(tmp_path / 'resumed', max_epochs=2)
    runner.load_checkpoint(runner_checkpoint)
    assert torch.equal(runner.model.linear.weight,
                       saved['state_dict']['linear.weight'])

    runner = toy_runner(tmp_path / 'resumed2', max_epochs=2)
    runner.resume(runner_checkpoint)
    assert runner.epoch == 1 and runner.iter == 4
    momentum = runner.optim_wrapper.optimizer.state_dict()['state']
    for index, state in saved['optimizer']['state'].items():
        assert torch.equal(momentum[index]['momentum_buffer'],
                           state['momentum_buffer'])
    assert runner.param_schedulers[0].last_step == \
        saved['param_schedulers'][0]['last_step']
    assert runner.optim_wrapper.get_lr()['lr'] == pytest.approx([0.001])


#: torch's refusal of the payload below (``open`` is ``io.open``).
REFUSED_OPEN = 'Unsupported global: GLOBAL io.open'


def write_malicious_checkpoint(path, marker):
    """A checkpoint whose unpickling would create ``marker`` via an
    arbitrary global (``open``)."""

    class Payload:

        def __reduce__(self):
            return (open, (str(marker), 'w'))

    torch.save(dict(state_dict=dict(w=torch.ones(1)), payload=Payload()),
               str(path))


def test_arbitrary_global_refused_by_torch_load(tmp_path):
    path, marker = tmp_path / 'evil.pth', tmp_path / 'pwned'
    write_malicious_checkpoint(path, marker)
    with pytest.raises(pickle.UnpicklingError, match=REFUSED_OPEN):
        torch.load(str(path))
    assert not marker.exists()
    # the payload is live: an unsafe load does run it
    torch.load(str(path), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize('method', ['load_checkpoint', 'resume'])
def test_arbitrary_global_refused_by_runner(tmp_path, method):
    path, marker = tmp_path / 'evil.pth', tmp_path / 'pwned'
    write_malicious_checkpoint(path, marker)
    runner = toy_runner(tmp_path / 'work')
    with pytest.raises(pickle.UnpicklingError, match=REFUSED_OPEN):
        getattr(runner, method)(str(path))
    assert not marker.exists()
    # getattr is allowed again only inside the next runner load
    assert getattr not in serialization.get_safe_globals()


def test_load_checkpoint_file_reads_runner_checkpoints(runner_checkpoint):
    # e.g. ``pretrained=work_dirs/.../epoch_N.pth``: compat's allow-list
    # must not hide that the file is a runner checkpoint
    from mmsparseformer.checkpoint_io import (is_runner_checkpoint,
                                              load_checkpoint_file)
    allowed = set(serialization.get_safe_globals())
    assert is_runner_checkpoint(runner_checkpoint)
    checkpoint = load_checkpoint_file(runner_checkpoint)
    assert checkpoint['meta']['epoch'] == 1
    assert set(serialization.get_safe_globals()) == allowed
    assert getattr not in allowed


def test_every_mmengine_load_reads_runner_checkpoints(runner_checkpoint,
                                                      tmp_path):
    """mmengine's local loader (init_recognizer, Pretrained inits, load_from)
    reads runner checkpoints, and still refuses arbitrary globals."""
    from mmengine.runner.checkpoint import _load_checkpoint
    checkpoint = _load_checkpoint(runner_checkpoint, map_location='cpu')
    assert checkpoint['meta']['epoch'] == 1
    assert getattr not in serialization.get_safe_globals()
    path, marker = tmp_path / 'evil.pth', tmp_path / 'pwned'
    write_malicious_checkpoint(path, marker)
    with pytest.raises(pickle.UnpicklingError, match=REFUSED_OPEN):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match='can not be found'):
        _load_checkpoint(str(tmp_path / 'missing.pth'))


# --------------------------------------------------------------------------
# The torch floor
# --------------------------------------------------------------------------
def test_torch_older_than_the_floor_is_refused(monkeypatch):
    for version in ('2.6.0', '2.13.0+cpu', '2.6.0a0+git1234', '3.0.0'):
        compat.check_torch_version(version)
    with pytest.raises(ImportError, match=r'torch>=2\.6 \(found 2\.5\.1\)'):
        compat.check_torch_version('2.5.1')
    monkeypatch.setattr(torch, '__version__', '2.1.2')
    with pytest.raises(ImportError, match='found 2.1.2'):
        compat.apply_compat_fixes()


def test_the_floor_is_the_requirements_and_has_every_api_called():
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    with open(osp.join(root, 'requirements', 'runtime.txt')) as f:
        spec = next(line.strip() for line in f if line.startswith('torch'))
    floor = '.'.join(map(str, compat.MIN_TORCH))
    assert spec.startswith(f'torch>={floor},')
    with open(osp.join(root, 'README.md')) as f:
        assert f'`{spec}`' in f.read()  # the README states the same range
    # what checkpoint_io and compat call exists from the floor on
    for name in ('add_safe_globals', 'get_safe_globals', 'clear_safe_globals',
                 'safe_globals', 'get_unsafe_globals_in_checkpoint'):
        assert hasattr(serialization, name), name
    assert compat.loads_weights_only_by_default()


# --------------------------------------------------------------------------
# MMAction2's multimodal models with transformers but without timm
# --------------------------------------------------------------------------
def test_mmaction_models_import_with_transformers_and_no_timm():
    import importlib.util
    if importlib.util.find_spec('transformers') is None or \
            importlib.util.find_spec('timm') is not None:
        pytest.skip('needs transformers (the zeroshot extra) and no timm')
    assert 'multimodal_without_timm' in compat.apply_compat_fixes()
    import mmaction.models  # noqa: F401  (failed before the fix)
    from mmaction.utils import dependency
    assert dependency.WITH_MULTIMODAL is False
    # MMAction2's own placeholder says what the VindLU models need
    with pytest.raises(ImportError, match='multi-modal dependencies'):
        MODELS.build(dict(type='VindLURetrieval'))
