// Sixteen-float vectors and the elementwise math the kernels share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace mmsparseformer {

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

// x[i] += bias[i], any count.
inline void add_bias(float* x, const float* bias, int64_t count) {
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) vstore(x + i, vload(x + i) + vload(bias + i));
  for (; i < count; ++i) x[i] += bias[i];
}

}  // namespace mmsparseformer
