// sample_mix: trilinear sampling and adaptive mixing of blocks of tokens.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "ops.h"
#include "vec.h"

namespace mmsparseformer {
namespace {

// One axis of trilinear interpolation, as geometry.sample_trilinear /
// sampling.trilinear_corners define it (align_corners=False, zeros
// padding): the two neighbours (clamped into the volume) and their weights
// (0 outside it).
inline void axis_corners(float coord01, int64_t size, int64_t index[2], float weight[2]) {
  const float coord = coord01 * static_cast<float>(size) - 0.5f;
  const float low = std::floor(coord);
  const float frac = coord - low;
  const int64_t i0 = static_cast<int64_t>(low);
  const int64_t i1 = i0 + 1;
  weight[0] = (i0 >= 0 && i0 < size) ? 1.f - frac : 0.f;
  weight[1] = (i1 >= 0 && i1 < size) ? frac : 0.f;
  index[0] = std::min(std::max<int64_t>(i0, 0), size - 1);
  index[1] = std::min(std::max<int64_t>(i1, 0), size - 1);
}

}  // namespace

// Trilinear sampling + adaptive mixing of blocks of tokens, without the
// (tokens, P, C) samples or the (tokens, C*C + P'*P) mixing parameters ever
// existing whole:
//   S = trilinear samples of the volume at the token's P points   (P, C)
//   theta = gen_weight @ hidden + gen_bias       (C*C + P'*P)
//   S = GELU(S Mc + channel_bias)                Mc = theta[:C*C] as (C, C)
//   S = GELU(Ms S + point_bias[:, None])         Ms = theta[C*C:] as (P', P)
// or, with channel_activation false (the bootstrapped SparseFormers' mixing
// without biases, whose zero biases the caller passes), S = GELU(Ms S Mc).
// Returns (B, N, P' * C); the output projection stays one large GEMM.
// C must be a multiple of 16 (96 in every arch).
at::Tensor sample_mix(const at::Tensor& volume, const at::Tensor& points_in,
                      const at::Tensor& hidden_in, const at::Tensor& gen_weight,
                      const at::Tensor& gen_bias, const at::Tensor& channel_bias,
                      const at::Tensor& point_bias, bool channel_activation) {
  TORCH_CHECK(volume.dim() == 5, "sample_mix: expected a (B, C, T, H, W) volume, got ",
              volume.sizes());
  TORCH_CHECK(points_in.dim() == 4 && points_in.size(3) == 3 &&
                  points_in.size(0) == volume.size(0),
              "sample_mix: expected (B, N, P, 3) points for ", volume.size(0),
              " clips, got ", points_in.sizes());
  const int64_t batch = volume.size(0), channels = volume.size(1), frames = volume.size(2),
                height = volume.size(3), width = volume.size(4);
  const int64_t num_tokens = points_in.size(1), num_points = points_in.size(2);
  const int64_t tokens = batch * num_tokens;
  TORCH_CHECK(hidden_in.dim() == 2 && hidden_in.size(0) == tokens,
              "sample_mix: expected (B * N, H) hidden states, got ", hidden_in.sizes());
  const int64_t out_points = point_bias.size(0), hidden_dims = hidden_in.size(1);
  const int64_t channel_params = channels * channels;
  const int64_t num_params = channel_params + out_points * num_points;
  TORCH_CHECK(channels % kLanes == 0, "sample_mix: channels (", channels,
              ") must be a multiple of ", kLanes);
  TORCH_CHECK(gen_weight.dim() == 2 && gen_weight.size(0) == num_params &&
                  gen_weight.size(1) == hidden_dims && gen_bias.numel() == num_params,
              "sample_mix: generator weight ", gen_weight.sizes(), " does not give ",
              channels, "^2 + ", out_points, "*", num_points, " parameters from ",
              hidden_dims, " hidden dims");
  TORCH_CHECK(channel_bias.numel() == channels, "sample_mix: channel bias of ",
              channel_bias.numel(), " values for ", channels, " channels");
  for (const at::Tensor* t : {&volume, &points_in, &hidden_in, &gen_weight, &gen_bias,
                              &channel_bias, &point_bias})
    TORCH_CHECK(t->scalar_type() == at::kFloat, "sample_mix: float32 tensors only");
  // inference kernel: the inputs' autograd flags are irrelevant here
  const at::Tensor table = volume.detach().permute({0, 2, 3, 4, 1}).contiguous();
  const at::Tensor points = points_in.detach().contiguous();
  const at::Tensor hidden = hidden_in.detach().contiguous();
  const at::Tensor gen_t = gen_weight.detach().t();
  const at::Tensor gen_b = gen_bias.detach().contiguous();
  const at::Tensor channel_b = channel_bias.detach().contiguous();
  // the point bias broadcast over channels, one (P', C) block
  const at::Tensor point_b =
      point_bias.detach().reshape({out_points, 1}).expand({out_points, channels}).contiguous();
  at::Tensor out = at::empty({batch, num_tokens, out_points * channels}, table.options());
  if (tokens == 0) return out;
  const float* table_data = table.data_ptr<float>();
  const float* point_data = points.data_ptr<float>();
  const float* gen_bias_data = gen_b.data_ptr<float>();
  const float* channel_bias_data = channel_b.data_ptr<float>();
  const float* point_bias_data = point_b.data_ptr<float>();
  float* out_data = out.data_ptr<float>();
  const int64_t volume_rows = frames * height * width;
  // blocks of about 64 tokens (the generator weight is read once per block),
  // as many as a multiple of the threads
  const int64_t threads = at::get_num_threads();
  int64_t num_blocks = std::max<int64_t>(threads, (tokens + 63) / 64);
  num_blocks = std::min(tokens, (num_blocks + threads - 1) / threads * threads);
  const int64_t block_tokens = (tokens + num_blocks - 1) / num_blocks;
  num_blocks = (tokens + block_tokens - 1) / block_tokens;

  at::parallel_for(0, num_blocks, 1, [&](int64_t begin, int64_t end) {
    at::Tensor params = at::empty({block_tokens, num_params}, table.options());
    at::Tensor sampled = at::empty({block_tokens, num_points, channels}, table.options());
    at::Tensor mixed = at::empty({block_tokens, num_points, channels}, table.options());
    for (int64_t block = begin; block < end; ++block) {
      const int64_t t0 = block * block_tokens;
      const int64_t count = std::min(block_tokens, tokens - t0);
      at::Tensor theta = params.narrow(0, 0, count);
      // GEMM, then the bias while the rows are in cache
      at::mm_out(theta, hidden.narrow(0, t0, count), gen_t);
      for (int64_t i = 0; i < count; ++i)
        add_bias(theta.data_ptr<float>() + i * num_params, gen_bias_data, num_params);
      // sampling: 8 weighted corner rows per point, channels in registers
      float* s = sampled.data_ptr<float>();
      for (int64_t i = 0; i < count * num_points; ++i) {
        const int64_t token = t0 + i / num_points;
        const float* p = point_data + (t0 * num_points + i) * 3;
        int64_t ix[2], iy[2], it[2];
        float wx[2], wy[2], wt[2];
        axis_corners(p[0], width, ix, wx);
        axis_corners(p[1], height, iy, wy);
        axis_corners(p[2], frames, it, wt);
        const float* base = table_data + (token / num_tokens) * volume_rows * channels;
        const float* corner[8];
        float w[8];
        for (int64_t a = 0; a < 2; ++a)
          for (int64_t b = 0; b < 2; ++b)
            for (int64_t c = 0; c < 2; ++c) {
              const int64_t k = (a * 2 + b) * 2 + c;
              w[k] = wx[a] * wy[b] * wt[c];
              corner[k] = base + ((it[c] * height + iy[b]) * width + ix[a]) * channels;
            }
        for (int64_t c = 0; c < channels; c += kLanes) {
          vfloat acc{};
          for (int64_t k = 0; k < 8; ++k) acc += w[k] * vload(corner[k] + c);
          vstore(s + i * channels + c, acc);
        }
      }
      at::Tensor channel_mixing = theta.as_strided({count, channels, channels},
                                                   {num_params, channels, 1});
      at::Tensor point_mixing = theta.as_strided({count, out_points, num_points},
                                                 {num_params, num_points, 1},
                                                 theta.storage_offset() + channel_params);
      at::Tensor stage = mixed.narrow(0, 0, count);
      at::bmm_out(stage, sampled.narrow(0, 0, count), channel_mixing);
      float* stage_data = stage.data_ptr<float>();
      if (channel_activation)
        for (int64_t i = 0; i < count * num_points; ++i)
          bias_gelu(stage_data + i * channels, channel_bias_data, channels);
      at::Tensor result = out.view({tokens, out_points, channels}).narrow(0, t0, count);
      at::bmm_out(result, point_mixing, stage);
      for (int64_t i = 0; i < count; ++i)
        bias_gelu(out_data + (t0 + i) * out_points * channels, point_bias_data,
                  out_points * channels);
    }
  });
  return out;
}

}  // namespace mmsparseformer
