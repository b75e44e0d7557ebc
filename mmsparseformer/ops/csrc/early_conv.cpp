// early_conv: conv 7x7/2 (pad 3) + bias + ReLU + max-pool 3x3/2 (pad 1) +
// channel standardisation, frame by frame. Each thread takes whole frames
// and walks them in bands of pooled rows: im2col of the band's conv rows,
// one GEMM, then pool, bias, ReLU and standardise while the band is still in
// cache. The bias is added after the max-pool (max commutes with a
// per-channel constant), the ReLU after it too (they commute as well).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "ops.h"

namespace mmsparseformer {
namespace {

constexpr int64_t kTaps = 7;    // conv kernel side
constexpr int64_t kPad = 3;     // conv padding (stride 2)
constexpr int64_t kInChannels = 3;
constexpr int64_t kBandRows = 8;  // pooled rows per band

inline int64_t conv_out_size(int64_t in) { return (in + 2 * kPad - kTaps) / 2 + 1; }
inline int64_t pool_out_size(int64_t in) { return (in + 2 - 3) / 2 + 1; }

// cols[k][p] for conv rows [row0, row0 + rows), k = (c, ky, kx) as in the
// (C, 3, 7, 7) weight, p = (oy - row0) * out_w + ox; zeros where the tap
// falls in the padding.
void im2col_band(const float* frame, int64_t plane_stride, int64_t height,
                 int64_t width, int64_t row0, int64_t rows, int64_t out_w,
                 float* cols) {
  const int64_t band = rows * out_w;
  for (int64_t c = 0; c < kInChannels; ++c) {
    const float* plane = frame + c * plane_stride;
    for (int64_t ky = 0; ky < kTaps; ++ky) {
      for (int64_t kx = 0; kx < kTaps; ++kx) {
        float* dst = cols + ((c * kTaps + ky) * kTaps + kx) * band;
        // columns ox with 0 <= 2 * ox - kPad + kx < width
        const int64_t lo = std::max<int64_t>(0, (kPad - kx + 1) / 2);
        const int64_t hi = std::min<int64_t>(out_w, (width - 1 + kPad - kx) / 2 + 1);
        for (int64_t r = 0; r < rows; ++r) {
          float* out = dst + r * out_w;
          const int64_t iy = 2 * (row0 + r) - kPad + ky;
          if (iy < 0 || iy >= height || hi <= lo) {
            std::fill(out, out + out_w, 0.f);
            continue;
          }
          const float* src = plane + iy * width + kx - kPad;
          std::fill(out, out + lo, 0.f);
          for (int64_t ox = lo; ox < hi; ++ox) out[ox] = src[2 * ox];
          std::fill(out + hi, out + out_w, 0.f);
        }
      }
    }
  }
}

}  // namespace

at::Tensor early_conv(const at::Tensor& input, const at::Tensor& weight,
                      const at::Tensor& bias, double eps) {
  TORCH_CHECK(input.dim() == 5 && input.size(1) == kInChannels,
              "early_conv: expected (B, 3, T, H, W) clips, got ", input.sizes());
  TORCH_CHECK(weight.dim() == 4 && weight.size(1) == kInChannels &&
                  weight.size(2) == kTaps && weight.size(3) == kTaps,
              "early_conv: expected a (C, 3, 7, 7) weight, got ", weight.sizes());
  TORCH_CHECK(input.scalar_type() == at::kFloat &&
                  weight.scalar_type() == at::kFloat && bias.scalar_type() == at::kFloat,
              "early_conv: float32 tensors only");
  const at::Tensor x = input.detach().contiguous();
  const int64_t batch = x.size(0), frames = x.size(2), height = x.size(3),
                width = x.size(4), channels = weight.size(0);
  const int64_t conv_h = conv_out_size(height), conv_w = conv_out_size(width);
  const int64_t out_h = pool_out_size(conv_h), out_w = pool_out_size(conv_w);
  // (147, C): the GEMM's right operand
  const at::Tensor taps = weight.detach().reshape({channels, -1}).t().contiguous();
  const at::Tensor bias_c = bias.detach().contiguous();
  // channels-last output (B, T, H', W', C)
  at::Tensor out = at::empty({batch, frames, out_h, out_w, channels}, x.options());

  const float* x_data = x.data_ptr<float>();
  const float* bias_data = bias_c.data_ptr<float>();
  float* out_data = out.data_ptr<float>();
  const int64_t plane = height * width;
  const int64_t num_taps = taps.size(0);
  const int64_t max_conv_rows = 2 * kBandRows + 1;
  const float inv_channels = 1.f / static_cast<float>(channels);

  at::parallel_for(0, batch * frames, 1, [&](int64_t begin, int64_t end) {
    at::Tensor cols = at::empty({num_taps * max_conv_rows * conv_w}, x.options());
    at::Tensor conv = at::empty({max_conv_rows * conv_w, channels}, x.options());
    std::vector<float> pooled(channels);
    for (int64_t frame = begin; frame < end; ++frame) {
      const int64_t b = frame / frames, t = frame % frames;
      const float* src = x_data + (b * kInChannels * frames + t) * plane;
      const int64_t plane_stride = frames * plane;  // between colour planes
      float* dst_frame = out_data + frame * out_h * out_w * channels;
      for (int64_t py0 = 0; py0 < out_h; py0 += kBandRows) {
        const int64_t py1 = std::min(out_h, py0 + kBandRows);
        // conv rows 2*py - 1 .. 2*py + 1 for the band's pooled rows
        const int64_t row0 = std::max<int64_t>(0, 2 * py0 - 1);
        const int64_t row1 = std::min(conv_h, 2 * (py1 - 1) + 2);
        const int64_t rows = row1 - row0;
        const int64_t positions = rows * conv_w;
        im2col_band(src, plane_stride, height, width, row0, rows, conv_w,
                    cols.data_ptr<float>());
        at::Tensor band_cols = cols.view(-1).narrow(0, 0, num_taps * positions)
                                   .view({num_taps, positions});
        at::Tensor band_conv = conv.narrow(0, 0, positions);
        at::mm_out(band_conv, band_cols.t(), taps);
        const float* conv_data = band_conv.data_ptr<float>();
        float* pool = pooled.data();
        for (int64_t py = py0; py < py1; ++py) {
          const int64_t oy_lo = std::max<int64_t>(0, 2 * py - 1);
          const int64_t oy_hi = std::min(conv_h, 2 * py + 2);
          for (int64_t px = 0; px < out_w; ++px) {
            const int64_t ox_lo = std::max<int64_t>(0, 2 * px - 1);
            const int64_t ox_hi = std::min(conv_w, 2 * px + 2);
            std::fill(pool, pool + channels, -std::numeric_limits<float>::infinity());
            for (int64_t oy = oy_lo; oy < oy_hi; ++oy) {
              for (int64_t ox = ox_lo; ox < ox_hi; ++ox) {
                const float* v = conv_data + ((oy - row0) * conv_w + ox) * channels;
                for (int64_t c = 0; c < channels; ++c) pool[c] = std::max(pool[c], v[c]);
              }
            }
            float sum = 0.f;
            for (int64_t c = 0; c < channels; ++c) {
              pool[c] = std::max(pool[c] + bias_data[c], 0.f);
              sum += pool[c];
            }
            const float mean = sum * inv_channels;
            float sq = 0.f;
            for (int64_t c = 0; c < channels; ++c) {
              const float d = pool[c] - mean;
              sq += d * d;
            }
            const float scale = 1.f / std::sqrt(sq * inv_channels + static_cast<float>(eps));
            float* o = dst_frame + (py * out_w + px) * channels;
            for (int64_t c = 0; c < channels; ++c) o[c] = (pool[c] - mean) * scale;
          }
        }
      }
    }
  });
  // (B, C, T, H', W') view of the channels-last buffer
  return out.permute({0, 4, 1, 2, 3});
}

}  // namespace mmsparseformer
