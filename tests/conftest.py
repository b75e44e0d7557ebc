"""Shared pytest fixtures."""
import os.path as osp

import pytest
import torch

DATA_DIR = osp.join(osp.dirname(__file__), 'data')


@pytest.fixture(scope='session')
def official_reference():
    """Reference outputs of the official SparseFormer library."""
    return torch.load(
        osp.join(DATA_DIR, 'official_sparseformer_reference.pt'),
        weights_only=True)


@pytest.fixture(scope='session')
def official_keys():
    import json
    with open(osp.join(DATA_DIR, 'official_sparseformer_keys.json')) as f:
        return json.load(f)


@pytest.fixture(scope='session')
def btsp_reference():
    """Reference outputs of the official library's bootstrapped
    SparseFormers (image class, random weights)."""
    return torch.load(osp.join(DATA_DIR, 'official_btsp_reference.pt'),
                      weights_only=True)


@pytest.fixture(scope='session')
def btsp_keys():
    """Key names and shapes of the four bootstrapped releases, image and
    video (8 replicates)."""
    import json
    with open(osp.join(DATA_DIR, 'official_btsp_keys.json')) as f:
        return json.load(f)
