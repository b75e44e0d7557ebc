// The kernels behind torch.ops.mmsparseformer (float32 CPU inference).
#pragma once

#include <ATen/ATen.h>

namespace mmsparseformer {

// Conv 7x7/2 + bias + ReLU + max-pool 3x3/2 + channel standardisation:
// (B, 3, T, H, W) clips -> (B, C, T, H/4, W/4), stored channels-last.
at::Tensor early_conv(const at::Tensor& input, const at::Tensor& weight,
                      const at::Tensor& bias, double eps);

// Multi-head attention from (B, N, 3 * heads * d) projections -> (B, N, heads * d).
at::Tensor token_attention(const at::Tensor& qkv, int64_t num_heads);

// Trilinear sampling + adaptive mixing up to the output projection:
// -> (B, N, P' * C).
at::Tensor sample_mix(const at::Tensor& volume, const at::Tensor& points,
                      const at::Tensor& hidden, const at::Tensor& gen_weight,
                      const at::Tensor& gen_bias, const at::Tensor& channel_bias,
                      const at::Tensor& point_bias, bool channel_activation);

// GELU(x W^T + b), exact GELU.
at::Tensor linear_gelu(const at::Tensor& input, const at::Tensor& weight,
                       const at::Tensor& bias);

}  // namespace mmsparseformer
