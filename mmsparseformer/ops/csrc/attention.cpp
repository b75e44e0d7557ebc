// token_attention: softmax(q k^T / sqrt(d)) v for many heads of a small
// dimension (1-16; 4 and 8 in SparseFormer): one (batch, head) per task, keys
// and values transposed into contiguous rows so every inner loop runs over
// tokens, 16 at a time, for 8 queries at once.
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

}  // namespace

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

}  // namespace mmsparseformer
