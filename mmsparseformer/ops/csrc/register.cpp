// Registers the kernels as torch.ops.mmsparseformer.* for CPU tensors
// (mmsparseformer/ops/kernels.py builds these files).
#include <torch/library.h>

#include "ops.h"

namespace mmsparseformer {

TORCH_LIBRARY(mmsparseformer, m) {
  m.def("early_conv(Tensor input, Tensor weight, Tensor bias, float eps) -> Tensor");
  m.def("token_attention(Tensor qkv, int num_heads) -> Tensor");
  m.def(
      "sample_mix(Tensor volume, Tensor points, Tensor hidden, Tensor gen_weight, "
      "Tensor gen_bias, Tensor channel_bias, Tensor point_bias, "
      "bool channel_activation) -> Tensor");
  m.def("linear_gelu(Tensor input, Tensor weight, Tensor bias) -> Tensor");
}

TORCH_LIBRARY_IMPL(mmsparseformer, CPU, m) {
  m.impl("early_conv", early_conv);
  m.impl("token_attention", token_attention);
  m.impl("sample_mix", sample_mix);
  m.impl("linear_gelu", linear_gelu);
}

}  // namespace mmsparseformer
