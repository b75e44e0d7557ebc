"""Helpers that turn the official reference fixtures into models."""
import re

import torch

import mmsparseformer  # noqa: F401
from mmsparseformer.models import SparseFormerHead, VideoSparseFormer
from mmsparseformer.models.checkpoint import convert_state_dict


def _unit_fields(arch: dict) -> dict:
    """The fields of an official fixture's arch that every SparseFormer has:
    a focusing unit, then units of one width applied once."""
    assert arch['repeats'][1:] == [1] * (len(arch['widths']) - 1)
    assert len(set(arch['widths'][1:])) == 1
    return dict(
        conv_channels=arch['conv_dim'],
        num_tokens=arch['num_latent_tokens'],
        num_points=arch['num_sampling_points'],
        focus_dims=arch['widths'][0],
        cortex_dims=arch['widths'][1],
        focus_repeats=arch['repeats'][0],
        cortex_depth=len(arch['widths']) - 1)


def fixture_arch(reference: dict) -> dict:
    """The fixture's official arch description as a VideoSparseFormer arch."""
    arch = reference['arch']
    return dict(
        _unit_fields(arch),
        sampling_units=tuple(arch['sampling_layers']),
        num_heads=arch['num_heads'],
        mlp_ratio=arch['mlp_ratio'])


def build_reference_model(reference: dict, state: dict, replicates: int):
    """Backbone and head loaded (strictly) from an official state dict."""
    backbone = VideoSparseFormer(fixture_arch(reference),
                                 replicates=replicates).eval()
    head = SparseFormerHead(reference['arch']['num_classes'],
                            backbone.embed_dims).eval()
    converted = convert_state_dict(state, backbone)
    assert not converted['unknown']
    backbone.load_state_dict(converted['backbone'], strict=True)
    head.load_state_dict(converted['head'], strict=True)
    return backbone, head


def random_official_image_state(keys: dict, seed: int = 0) -> dict:
    """Random weights in the official image layout (shapes from the keys
    file), with every zero-initialised part made non-zero and scales that
    keep the tubes and activations well conditioned."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in keys.items():
        if key == 'initial_roi.weight':
            low = torch.rand(shape[0], 2, generator=gen) * 0.6
            size = 0.2 + torch.rand(shape[0], 2, generator=gen) * 0.4
            value = torch.cat([low, low + size], dim=1)
        elif key.endswith('roi_offset_bias'):
            value = torch.rand(shape, generator=gen) - 0.5
        elif len(shape) == 1 and key.endswith('weight'):
            value = 1 + 0.1 * torch.randn(shape, generator=gen)  # LayerNorm
        elif len(shape) == 1:
            value = 0.1 * torch.randn(shape, generator=gen)  # biases
        elif key == 'initial_embedding.weight':
            value = torch.randn(shape, generator=gen)
        elif re.search(r'roi_adjust_module\.\d\.weight$', key) and \
                shape[0] == 4:
            # adjustments of about 0.1 (the LayerNorm'd input has norm sqrt(D))
            value = 0.1 * torch.randn(shape, generator=gen) / shape[1]**0.5
        elif key.endswith('parameter_generator.2.weight'):
            value = 0.01 * torch.randn(shape, generator=gen) / shape[1]**0.5
        elif key.endswith('parameter_generator.2.bias'):
            value = 0.1 * torch.randn(shape, generator=gen)  # ~ xavier
        else:
            fan_in = shape[1] if len(shape) > 1 else 1
            for dim in shape[2:]:
                fan_in *= dim
            value = torch.randn(shape, generator=gen) / fan_in**0.5
        state[key] = value
    return state


def btsp_fixture_arch(reference: dict, case: str) -> dict:
    """The bootstrapped fixture's arch (``augreg_style`` / ``clip_style``)
    as a VideoSparseFormer arch."""
    arch = reference['arch']
    assert arch['ops'][:2] == [
        ['SAMPLING_M', 'PE_INJECT', 'ATTN', 'MLP', 'ROI_ADJ'],
        ['SAMPLING_M', 'PE_INJECT']
    ] and all(ops == ['ATTN', 'MLP'] for ops in arch['ops'][2:])
    return dict(
        _unit_fields(arch),
        sampling_units=(0, 1),
        num_heads=None,
        head_dims=64,
        mlp_ratio=4,
        style='btsp',
        gen_dims=arch['pg_inner_dim'],
        quick_gelu=case == 'clip_style',
        cls_token_unit=arch['cls_token_insert_layer'])


def btsp_head(reference: dict, case: str) -> SparseFormerHead:
    """The fixture's head: class token, norm and its projection (a
    classifier for ``augreg_style``, a CLIP projection for
    ``clip_style``)."""
    dims = reference['arch']['proj_dim'][case]
    clip = case == 'clip_style'
    return SparseFormerHead(dims, reference['arch']['widths'][-1], pool='cls',
                            proj_dims=dims if clip else None, norm_eps=1e-5)


def build_btsp_reference_model(reference: dict, case: str, state: dict,
                               replicates: int = 1):
    """Backbone and head of a bootstrapped fixture case, loaded strictly."""
    backbone = VideoSparseFormer(btsp_fixture_arch(reference, case),
                                 replicates=replicates).eval()
    head = btsp_head(reference, case).eval()
    converted = convert_state_dict(state, backbone)
    assert not converted['unknown']
    backbone.load_state_dict(converted['backbone'], strict=True)
    if case == 'clip_style':  # the classifier stays the head's own
        head.load_state_dict(converted['head'], strict=False)
        assert set(converted['head']) == {'norm.weight', 'norm.bias',
                                          'proj.weight'}
    else:
        head.load_state_dict(converted['head'], strict=True)
    return backbone, head


def head_output(head: SparseFormerHead, tokens):
    """What the official model returns: the classifier's logits, or the
    CLIP embedding of a head with a CLIP projection."""
    return head.embed(tokens) if head.proj_dims else head(tokens)
