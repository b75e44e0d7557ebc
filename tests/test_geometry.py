"""The pure geometry functions against their definitions."""
import itertools
import math

import pytest
import torch

from mmsparseformer.ops.geometry import (adjust_rois, sample_trilinear,
                                            sampling_points,
                                            standardize_offsets)


def trilinear_reference(features, points, padding='zeros'):
    """Trilinear interpolation written from its definition, in float64:
    point (x, y, t) reads continuous index (t*T-0.5, y*H-0.5, x*W-0.5),
    corners outside the volume read zero; with border padding the index is
    first clipped to the volume."""
    features = features.double()
    batch, channels, frames, height, width = features.shape
    out = torch.zeros(*points.shape[:3], channels, dtype=torch.float64)
    for b, n, p in itertools.product(*map(range, points.shape[:3])):
        x, y, t = points[b, n, p].double().tolist()
        ix, iy, it = x * width - 0.5, y * height - 0.5, t * frames - 0.5
        if padding == 'border':
            ix = min(max(ix, 0), width - 1)
            iy = min(max(iy, 0), height - 1)
            it = min(max(it, 0), frames - 1)
        x0, y0, t0 = math.floor(ix), math.floor(iy), math.floor(it)
        for dx, dy, dt in itertools.product((0, 1), repeat=3):
            xi, yi, ti = x0 + dx, y0 + dy, t0 + dt
            weight = ((1 - abs(ix - xi)) * (1 - abs(iy - yi)) *
                      (1 - abs(it - ti)))
            if 0 <= xi < width and 0 <= yi < height and 0 <= ti < frames:
                out[b, n, p] += weight * features[b, :, ti, yi, xi]
    return out


@pytest.mark.parametrize('shape', [(1, 1, 5, 7), (4, 3, 6, 6), (3, 2, 4, 9)])
@pytest.mark.parametrize('padding', ['zeros', 'border'])
def test_sampler_matches_definition(shape, padding):
    torch.manual_seed(0)
    frames, height, width = shape[1:]
    features = torch.randn(2, 3, frames, height, width)
    # points inside, on the border and outside the volume
    points = torch.rand(2, 4, 6, 3) * 1.4 - 0.2
    ours = sample_trilinear(features, points, padding)
    assert ours.shape == (2, 4, 6, 3)
    expected = trilinear_reference(features, points, padding)
    assert (ours.double() - expected).abs().max() < 1e-5


def test_sampler_reads_voxel_centres_exactly():
    features = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(
        1, 2, 3, 4, 5)
    t, y, x = 2, 1, 3
    point = torch.tensor([[[[(x + 0.5) / 5, (y + 0.5) / 4, (t + 0.5) / 3]]]])
    assert torch.equal(
        sample_trilinear(features, point)[0, 0, 0], features[0, :, t, y, x])


def test_sampler_gradcheck():
    torch.manual_seed(0)
    features = torch.randn(1, 2, 3, 4, 5, dtype=torch.float64,
                           requires_grad=True)
    # keep points away from voxel centres, where the gradient w.r.t. the
    # point coordinates is discontinuous
    points = (torch.rand(1, 2, 3, 3, dtype=torch.float64) * 0.8 + 0.1)
    points = points.requires_grad_(True)
    assert torch.autograd.gradcheck(sample_trilinear, (features, points))


def test_adjust_rois_definition():
    rois = torch.tensor([[0.1, 0.2, 0.0, 0.5, 0.4, 0.5]])
    zero = torch.zeros(1, 6)
    assert torch.allclose(adjust_rois(rois, zero), rois)
    deltas = torch.tensor([[0.5, -0.25, 1.0, math.log(2), 0.0,
                            math.log(0.5)]])
    # centre (0.3, 0.3, 0.25), size (0.4, 0.2, 0.5)
    # -> centre (0.5, 0.25, 0.75), size (0.8, 0.2, 0.25)
    expected = torch.tensor([[0.1, 0.15, 0.625, 0.9, 0.35, 0.875]])
    assert torch.allclose(adjust_rois(rois, deltas), expected, atol=1e-6)
    # flipped boxes use the absolute size
    flipped = rois[:, [3, 4, 5, 0, 1, 2]]
    assert torch.allclose(adjust_rois(flipped, deltas), expected, atol=1e-6)


def test_standardize_offsets():
    torch.manual_seed(0)
    offsets = torch.randn(2, 3, 16, 3) * 5 + 2
    out = standardize_offsets(offsets)
    assert torch.allclose(out.mean(dim=-2), torch.zeros(2, 3, 3), atol=1e-6)
    assert torch.allclose(out.std(dim=-2), torch.full((2, 3, 3), 1 / 3),
                          atol=1e-5)
    # constant offsets (e.g. an inflated time axis) stay at the centre
    constant = torch.ones(1, 1, 8, 3)
    assert torch.equal(standardize_offsets(constant), torch.zeros(1, 1, 8, 3))


def test_sampling_points():
    rois = torch.tensor([[[0.2, 0.4, 0.0, 0.6, 0.6, 0.5]]])
    offsets = torch.tensor([[[[0.0, 0.0, 0.0], [0.5, -0.5, 0.5]]]])
    points = sampling_points(rois, offsets)
    expected = torch.tensor([[[[0.4, 0.5, 0.25], [0.6, 0.4, 0.5]]]])
    assert torch.allclose(points, expected)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_geometry_is_float32_under_autocast(dtype):
    rois = torch.rand(1, 2, 6).to(dtype)
    deltas = torch.randn(1, 2, 6).to(dtype)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert adjust_rois(rois, deltas).dtype == torch.float32
        features = torch.randn(1, 2, 2, 4, 4).to(dtype)
        points = torch.rand(1, 2, 3, 3).to(dtype)
        assert sample_trilinear(features, points).dtype == torch.float32
