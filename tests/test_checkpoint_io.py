"""The shared checkpoint pieces: the state dict inside a file, and which
file ``pretrained`` / ``init_cfg`` name."""
import pytest
import torch

from mmsparseformer.checkpoint_io import (CheckpointError,
                                          pretrained_checkpoint,
                                          unwrap_state_dict)


def test_unwrap_state_dict_of_every_wrapping():
    weights = {'a.weight': torch.ones(2), 'b.bias': torch.zeros(1)}
    for checkpoint in (weights, {'state_dict': weights, 'meta': {}},
                       {'model': weights}):
        assert dict(unwrap_state_dict(checkpoint)) == weights
    # a DDP save: every key has the prefix
    ddp = {f'module.{key}': value for key, value in weights.items()}
    assert list(unwrap_state_dict({'state_dict': ddp})) == list(weights)
    # not every key: kept as they are
    mixed = dict(weights, **{'module.c': torch.ones(1)})
    assert 'module.c' in unwrap_state_dict(mixed)
    # non-tensors (a step counter) are left out
    assert list(unwrap_state_dict(dict(weights, step=3))) == list(weights)


def test_unwrap_state_dict_errors_name_the_file():
    with pytest.raises(CheckpointError, match='f.pth: expected a dict'):
        unwrap_state_dict([torch.ones(1)], 'f.pth')
    with pytest.raises(CheckpointError, match='f.pth: no tensors found'):
        unwrap_state_dict({'state_dict': {'epoch': 3}}, 'f.pth')


def test_pretrained_checkpoint():
    pretrained = dict(type='Pretrained', checkpoint='b.pth')
    assert pretrained_checkpoint('a.pth', pretrained) == 'a.pth'
    assert pretrained_checkpoint(None, pretrained) == 'b.pth'
    assert pretrained_checkpoint(None, dict(type='Kaiming')) is None
    assert pretrained_checkpoint() is None
