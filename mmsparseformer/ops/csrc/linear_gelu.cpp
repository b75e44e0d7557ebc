// linear_gelu: the first layer of the token MLP with its GELU.
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

}  // namespace mmsparseformer
