"""Helpers that turn the official reference fixture into models."""
import torch

import mmsparseformer  # noqa: F401
from mmsparseformer.models import SparseFormerHead, VideoSparseFormer
from mmsparseformer.models.checkpoint import convert_state_dict


def fixture_arch(reference: dict) -> dict:
    """The fixture's official arch description as a VideoSparseFormer arch."""
    arch = reference['arch']
    assert arch['repeats'][1:] == [1] * (len(arch['widths']) - 1)
    assert len(set(arch['widths'][1:])) == 1
    return dict(
        conv_channels=arch['conv_dim'],
        num_tokens=arch['num_latent_tokens'],
        num_points=arch['num_sampling_points'],
        focus_dims=arch['widths'][0],
        cortex_dims=arch['widths'][1],
        focus_repeats=arch['repeats'][0],
        cortex_depth=len(arch['widths']) - 1,
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
        elif key.endswith('roi_adjust_module.1.weight'):
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
