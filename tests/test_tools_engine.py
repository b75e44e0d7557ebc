"""The helpers behind tools/train.py and tools/test.py, in-process (the
end-to-end runs are in test_tools_cli.py)."""
import multiprocessing
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import mmsparseformer  # noqa: F401
from mmsparseformer.checkpoint_io import CheckpointError
from mmsparseformer.engine import (ToolError, check_checkpoint_file,
                                   checkpoint_load_error,
                                   cpu_model_wrapper_cfg,
                                   needs_cpu_distributed, report_tool_errors,
                                   setup_cpu_distributed,
                                   unregistered_type_error)

MICRO = osp.join(
    osp.dirname(__file__), 'data', 'configs',
    'vsf_micro_2xb2-4x1x1-2e_tinyvideo-rgb.py')


def not_registered(type_name, registry='mmaction::model'):
    """mmengine's error for a type missing from a registry, as raised from
    inside the build of an enclosing type."""
    return KeyError(
        'class `Recognizer3D` in mmaction/models/recognizers/recognizer3d.py'
        f': {type_name} is not in the {registry} registry. Please check '
        f'whether the value of `{type_name}` is correct or it was '
        'registered as expected.')


def test_unregistered_type_names_every_key_and_the_file():
    cfg = Config.fromfile(MICRO)
    cfg.model.backbone.type = 'Foo'
    cfg.train_dataloader.dataset.pipeline[2].type = 'Foo'
    error = unregistered_type_error(not_registered('Foo'), cfg, MICRO)
    assert isinstance(error, ToolError)
    message = str(error)
    assert "model.backbone.type='Foo'" in message
    assert "train_dataloader.dataset.pipeline[2].type='Foo'" in message
    assert MICRO in message
    assert 'mmaction::model registry' in message
    assert 'custom_imports' in message


def test_other_key_errors_are_not_translated():
    cfg = Config.fromfile(MICRO)
    assert unregistered_type_error(KeyError('backbone'), cfg, MICRO) is None
    with pytest.raises(KeyError, match='backbone'):
        with report_tool_errors(cfg, MICRO):
            raise KeyError('backbone')


def test_report_tool_errors_exits_with_one_line(capsys):
    cfg = Config.fromfile(MICRO)
    cfg.model.cls_head.type = 'Bar'
    with pytest.raises(SystemExit) as info:
        with report_tool_errors(cfg, MICRO, prog='train.py'):
            raise not_registered('Bar')
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1
    assert err.startswith("train.py: error: model.cls_head.type='Bar' in ")


def test_check_checkpoint_file(tmp_path):
    missing = tmp_path / 'missing.pth'
    with pytest.raises(CheckpointError, match=f'not found: {missing}'):
        check_checkpoint_file(str(missing))
    with pytest.raises(CheckpointError, match='not a file'):
        check_checkpoint_file(str(tmp_path))
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match=f'empty: {empty}'):
        check_checkpoint_file(str(empty))

    good = tmp_path / 'good.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(3))), str(good))
    check_checkpoint_file(str(good))
    legacy = tmp_path / 'legacy.pth'
    torch.save(dict(w=torch.ones(3)), str(legacy),
               _use_new_zipfile_serialization=False)
    check_checkpoint_file(str(legacy))
    check_checkpoint_file('https://example.org/model.pth')  # not checked

    data = good.read_bytes()
    for name, content in [('cut.pth', data[:len(data) // 2]),
                          ('text.pth', b'not a checkpoint at all')]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match=f'{path}: the file is '):
            check_checkpoint_file(str(path))


def test_checkpoint_load_error_names_the_file_torch_load_read(tmp_path):
    path = tmp_path / 'bad.pth'
    path.write_bytes(b'\x80\x02garbage')  # passes the cheap check
    check_checkpoint_file(str(path))
    with pytest.raises(Exception) as info:
        torch.load(str(path))
    error = checkpoint_load_error(info.value)
    assert isinstance(error, CheckpointError)
    assert str(path) in str(error)
    # errors raised elsewhere are left alone
    assert checkpoint_load_error(RuntimeError('elsewhere')) is None


def test_cpu_model_wrapper_cfg():
    cfg = Config(dict(find_unused_parameters=True))
    wrapper = cpu_model_wrapper_cfg(cfg)
    assert wrapper == dict(type='MMDistributedDataParallel', device_ids=None,
                           broadcast_buffers=False,
                           find_unused_parameters=True)
    cfg = Config(
        dict(model_wrapper_cfg=dict(
            type='MMDistributedDataParallel', device_ids=[0],
            find_unused_parameters=True)))
    wrapper = cpu_model_wrapper_cfg(cfg)
    assert wrapper['device_ids'] is None
    assert wrapper['find_unused_parameters'] is True
    assert cfg.model_wrapper_cfg.device_ids == [0]  # not modified
    # DDP subclasses pass device_ids on to DDP too
    cfg = Config(
        dict(model_wrapper_cfg=dict(
            type='MMSeparateDistributedDataParallel')))
    assert cpu_model_wrapper_cfg(cfg)['device_ids'] is None
    # a wrapper that is not DDP is left as it is
    cfg = Config(
        dict(model_wrapper_cfg=dict(type='MMFullyShardedDataParallel')))
    assert cpu_model_wrapper_cfg(cfg) == cfg.model_wrapper_cfg


def test_no_fallback_without_a_launcher(monkeypatch):
    assert not needs_cpu_distributed('none')
    cfg = Config.fromfile(MICRO)
    cfg.launcher = 'none'
    assert setup_cpu_distributed(cfg) is None
    assert 'model_wrapper_cfg' not in cfg
    # with CUDA, MMAction2's normal (nccl) path is kept
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert not needs_cpu_distributed('pytorch')
    cfg.launcher = 'pytorch'
    assert setup_cpu_distributed(cfg) is None
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'


def test_gloo_fallback_in_one_process(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                           MASTER_ADDR='127.0.0.1').items():
        monkeypatch.setenv(key, value)
    for key in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):  # set if missing
        monkeypatch.setenv(key, os.environ.get(key, '1'))
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        monkeypatch.setenv('MASTER_PORT', str(sock.getsockname()[1]))
    cfg = Config.fromfile(MICRO)
    cfg.launcher = 'pytorch'
    start_method = multiprocessing.get_start_method(allow_none=True)
    try:
        note = setup_cpu_distributed(cfg)
        assert torch.distributed.is_initialized()
        assert torch.distributed.get_backend() == 'gloo'
        # the config's start method, as the runner sets it
        assert multiprocessing.get_start_method() == \
            cfg.env_cfg.mp_cfg.mp_start_method
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        multiprocessing.set_start_method(start_method, force=True)
    assert 'gloo' in note and "'nccl'" in note
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None
    assert torch.cuda.set_device.__module__.startswith('torch')  # restored
    assert os.environ['WORLD_SIZE'] == '1'
