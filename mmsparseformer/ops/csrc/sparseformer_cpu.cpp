// Fused CPU inference kernels of VideoSparseFormer (float32, contiguous).
//
// early_conv: conv 7x7/2 (pad 3) + bias + ReLU + max-pool 3x3/2 (pad 1) +
//   channel standardisation, frame by frame. Each thread takes whole frames
//   and walks them in bands of pooled rows: im2col of the band's conv rows,
//   one GEMM, then pool, bias, ReLU and standardise while the band is still
//   in cache. The bias is added after the max-pool (max commutes with a
//   per-channel constant), the ReLU after it too (they commute as well).
// token_attention: softmax(q k^T / sqrt(d)) v for many heads of a small
//   dimension (4-8): one (batch, head) per task, keys and values transposed
//   into contiguous rows so every inner loop runs over tokens and vectorises.
//
// Python reaches them as torch.ops.mmsparseformer.{early_conv,token_attention}
// (mmsparseformer/ops/__init__.py builds this file on first use).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

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

// Sixteen floats. GCC/Clang vector extensions: one AVX-512 register, two
// AVX2 ones, or four SSE ones, whatever the build targets.
typedef float vfloat __attribute__((vector_size(64)));
typedef int32_t vint __attribute__((vector_size(64)));
constexpr int64_t kLanes = 16;

inline vfloat vload(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void vstore(float* p, vfloat v) { std::memcpy(p, &v, sizeof(v)); }
inline vfloat vmax(vfloat a, vfloat b) { return a > b ? a : b; }
inline float hsum(vfloat v) {
  float total = 0.f;
  for (int64_t l = 0; l < kLanes; ++l) total += v[l];
  return total;
}
inline float hmax(vfloat v) {
  float peak = v[0];
  for (int64_t l = 1; l < kLanes; ++l) peak = std::max(peak, v[l]);
  return peak;
}

// exp(x) for x <= 0 (-inf included): 2^n p(r), r = x - n ln2, |r| <= ln2/2,
// with Cephes' degree-7 polynomial (about 1 ulp); 0 below -87.
inline vfloat vexp_nonpositive(vfloat x) {
  const vfloat y = (x < -87.f ? vfloat{} - 87.f : x);
  // round to nearest: y * log2(e) <= 0, so truncating (y log2 e - 0.5) does it
  const vint n = __builtin_convertvector(y * 1.44269504088896341f - 0.5f, vint);
  const vfloat nf = __builtin_convertvector(n, vfloat);
  const vfloat r = y - nf * 0.693359375f + nf * 2.12194440e-4f;
  vfloat p = vfloat{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const vint bits = (n + 127) << 23;
  vfloat scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return x < -87.f ? vfloat{} : p * scale;
}

constexpr int64_t kQueryBlock = 8;

// Attention of one (batch, head): keys and values as (HD, padded) rows.
template <int64_t HD>
void attend_head(const float* qkv, int64_t row, int64_t dims, int64_t tokens,
                 int64_t padded, float scale, const float* keys,
                 const float* values, float* scores, float* out) {
  const int64_t tiles = padded / kLanes;
  // -inf on the padding lanes of the last tile
  vfloat tail{};
  for (int64_t l = 0; l < kLanes; ++l)
    if ((tiles - 1) * kLanes + l >= tokens) tail[l] = -std::numeric_limits<float>::infinity();
  for (int64_t i0 = 0; i0 < tokens; i0 += kQueryBlock) {
    const int64_t block = std::min(kQueryBlock, tokens - i0);
    float query[kQueryBlock][HD] = {};
    for (int64_t q = 0; q < block; ++q)
      for (int64_t d = 0; d < HD; ++d) query[q][d] = qkv[(i0 + q) * row + d] * scale;
    vfloat peak[kQueryBlock];
    for (int64_t q = 0; q < kQueryBlock; ++q)
      peak[q] = vfloat{} - std::numeric_limits<float>::infinity();
    for (int64_t t = 0; t < tiles; ++t) {
      vfloat acc[kQueryBlock] = {};
      for (int64_t d = 0; d < HD; ++d) {
        const vfloat k = vload(keys + d * padded + t * kLanes);
        for (int64_t q = 0; q < kQueryBlock; ++q) acc[q] += query[q][d] * k;
      }
      if (t == tiles - 1)
        for (int64_t q = 0; q < kQueryBlock; ++q) acc[q] += tail;
      for (int64_t q = 0; q < kQueryBlock; ++q) {
        vstore(scores + q * padded + t * kLanes, acc[q]);
        peak[q] = vmax(peak[q], acc[q]);
      }
    }
    for (int64_t q = 0; q < block; ++q) {
      float* s = scores + q * padded;
      const float shift = hmax(peak[q]);
      vfloat total{};
      vfloat acc[HD] = {};
      for (int64_t t = 0; t < tiles; ++t) {
        const vfloat p = vexp_nonpositive(vload(s + t * kLanes) - shift);
        total += p;
        for (int64_t d = 0; d < HD; ++d) acc[d] += p * vload(values + d * padded + t * kLanes);
      }
      const float inv_total = 1.f / hsum(total);
      float* o = out + (i0 + q) * dims;
      for (int64_t d = 0; d < HD; ++d) o[d] = hsum(acc[d]) * inv_total;
    }
  }
}

template <int64_t HD>
void attend(const float* qkv_data, float* out_data, int64_t batch,
            int64_t tokens, int64_t num_heads) {
  const int64_t dims = num_heads * HD, row = 3 * dims;
  const int64_t padded = (tokens + kLanes - 1) / kLanes * kLanes;
  const float scale = 1.f / std::sqrt(static_cast<float>(HD));
  at::parallel_for(0, batch * num_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> keys(HD * padded, 0.f), values(HD * padded, 0.f);
    std::vector<float> scores(kQueryBlock * padded);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / num_heads, h = task % num_heads;
      const float* base = qkv_data + b * tokens * row + h * HD;
      for (int64_t j = 0; j < tokens; ++j) {
        for (int64_t d = 0; d < HD; ++d) {
          keys[d * padded + j] = base[j * row + dims + d];
          values[d * padded + j] = base[j * row + 2 * dims + d];
        }
      }
      attend_head<HD>(base, row, dims, tokens, padded, scale, keys.data(),
                      values.data(), scores.data(),
                      out_data + b * tokens * dims + h * HD);
    }
  });
}

at::Tensor token_attention(const at::Tensor& qkv_in, int64_t num_heads) {
  TORCH_CHECK(num_heads > 0 && qkv_in.dim() == 3 && qkv_in.size(2) % (3 * num_heads) == 0,
              "token_attention: expected (B, N, 3 * heads * d) projections, got ",
              qkv_in.sizes(), " for ", num_heads, " heads");
  TORCH_CHECK(qkv_in.scalar_type() == at::kFloat, "token_attention: float32 only");
  const at::Tensor qkv = qkv_in.detach().contiguous();
  const int64_t batch = qkv.size(0), tokens = qkv.size(1);
  const int64_t dims = qkv.size(2) / 3, head_dims = dims / num_heads;
  at::Tensor out = at::empty({batch, tokens, dims}, qkv.options());
  if (tokens == 0 || batch == 0) return out;
  const float* in = qkv.data_ptr<float>();
  float* o = out.data_ptr<float>();
  switch (head_dims) {
    case 1: attend<1>(in, o, batch, tokens, num_heads); break;
    case 2: attend<2>(in, o, batch, tokens, num_heads); break;
    case 4: attend<4>(in, o, batch, tokens, num_heads); break;
    case 6: attend<6>(in, o, batch, tokens, num_heads); break;
    case 8: attend<8>(in, o, batch, tokens, num_heads); break;
    case 12: attend<12>(in, o, batch, tokens, num_heads); break;
    case 16: attend<16>(in, o, batch, tokens, num_heads); break;
    default:
      TORCH_CHECK(false, "token_attention: head dimension ", head_dims,
                  " is not one of 1, 2, 4, 6, 8, 12, 16");
  }
  return out;
}

// erf(z) to 1.5e-7 (Abramowitz & Stegun 7.1.26), odd extension.
inline vfloat verf(vfloat z) {
  const vfloat a = (z < 0.f ? -z : z);
  const vfloat t = 1.f / (1.f + 0.3275911f * a);
  vfloat poly = vfloat{} + 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const vfloat e = 1.f - poly * t * vexp_nonpositive(-a * a);
  return z < 0.f ? -e : e;
}

// x <- GELU(x + bias) in place, exact (erf) form; count a multiple of 16.
inline void bias_gelu(float* x, const float* bias, int64_t count) {
  for (int64_t i = 0; i < count; i += kLanes) {
    const vfloat v = vload(x + i) + vload(bias + i);
    vstore(x + i, 0.5f * v * (1.f + verf(v * 0.70710678118654752f)));
  }
}

// x[i] += bias[i], count a multiple of 16.
inline void add_bias(float* x, const float* bias, int64_t count) {
  for (int64_t i = 0; i < count; i += kLanes) vstore(x + i, vload(x + i) + vload(bias + i));
}

// One axis of trilinear interpolation, as geometry.sample_trilinear /
// fast_ops.trilinear_corners define it (align_corners=False, zeros
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

// Trilinear sampling + adaptive mixing of blocks of tokens, without the
// (tokens, P, C) samples or the (tokens, C*C + P'*P) mixing parameters ever
// existing whole:
//   S = trilinear samples of the volume at the token's P points   (P, C)
//   theta = gen_weight @ hidden + gen_bias       (C*C + P'*P)
//   S = GELU(S Mc + channel_bias)                Mc = theta[:C*C] as (C, C)
//   S = GELU(Ms S + point_bias[:, None])         Ms = theta[C*C:] as (P', P)
// Returns (B, N, P' * C); the output projection stays one large GEMM.
// C must be a multiple of 16 (96 in every arch).
at::Tensor sample_mix(const at::Tensor& volume, const at::Tensor& points_in,
                      const at::Tensor& hidden_in, const at::Tensor& gen_weight,
                      const at::Tensor& gen_bias, const at::Tensor& channel_bias,
                      const at::Tensor& point_bias) {
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
  const bool bias_lanes = num_params % kLanes == 0;

  at::parallel_for(0, num_blocks, 1, [&](int64_t begin, int64_t end) {
    at::Tensor params = at::empty({block_tokens, num_params}, table.options());
    at::Tensor sampled = at::empty({block_tokens, num_points, channels}, table.options());
    at::Tensor mixed = at::empty({block_tokens, num_points, channels}, table.options());
    for (int64_t block = begin; block < end; ++block) {
      const int64_t t0 = block * block_tokens;
      const int64_t count = std::min(block_tokens, tokens - t0);
      at::Tensor theta = params.narrow(0, 0, count);
      if (bias_lanes) {  // GEMM, then the bias while the rows are in cache
        at::mm_out(theta, hidden.narrow(0, t0, count), gen_t);
        for (int64_t i = 0; i < count; ++i)
          add_bias(theta.data_ptr<float>() + i * num_params, gen_bias_data, num_params);
      } else {
        at::addmm_out(theta, gen_b, hidden.narrow(0, t0, count), gen_t);
      }
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

// GELU(x W^T + b): one multithreaded GEMM, then bias and the exact (erf)
// GELU in one pass over the output. Output features a multiple of 16.
at::Tensor linear_gelu(const at::Tensor& input, const at::Tensor& weight,
                       const at::Tensor& bias) {
  TORCH_CHECK(weight.dim() == 2 && input.size(-1) == weight.size(1) &&
                  bias.numel() == weight.size(0),
              "linear_gelu: input ", input.sizes(), " does not fit weight ",
              weight.sizes(), " and bias ", bias.sizes());
  const int64_t features = weight.size(0);
  TORCH_CHECK(features % kLanes == 0, "linear_gelu: output features (", features,
              ") must be a multiple of ", kLanes);
  for (const at::Tensor* t : {&input, &weight, &bias})
    TORCH_CHECK(t->scalar_type() == at::kFloat, "linear_gelu: float32 tensors only");
  const at::Tensor x = input.detach().reshape({-1, weight.size(1)});
  const at::Tensor b = bias.detach().contiguous();
  at::Tensor out = at::mm(x, weight.detach().t());
  float* data = out.data_ptr<float>();
  const float* bias_data = b.data_ptr<float>();
  at::parallel_for(0, out.size(0), 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) bias_gelu(data + r * features, bias_data, features);
  });
  std::vector<int64_t> shape(input.sizes().begin(), input.sizes().end());
  shape.back() = features;
  return out.view(shape);
}

}  // namespace

TORCH_LIBRARY(mmsparseformer, m) {
  m.def("early_conv(Tensor input, Tensor weight, Tensor bias, float eps) -> Tensor");
  m.def("token_attention(Tensor qkv, int num_heads) -> Tensor");
  m.def(
      "sample_mix(Tensor volume, Tensor points, Tensor hidden, Tensor gen_weight, "
      "Tensor gen_bias, Tensor channel_bias, Tensor point_bias) -> Tensor");
  m.def("linear_gelu(Tensor input, Tensor weight, Tensor bias) -> Tensor");
}

TORCH_LIBRARY_IMPL(mmsparseformer, CPU, m) {
  m.impl("early_conv", early_conv);
  m.impl("token_attention", token_attention);
  m.impl("sample_mix", sample_mix);
  m.impl("linear_gelu", linear_gelu);
}

}  // namespace mmsparseformer
