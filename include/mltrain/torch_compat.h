// What differs between the LibTorch releases ml-train builds
// against (Debian's 1.13, C++17; 2.x, C++20 from 2.10), in one place.
#ifndef MLTRAIN_TORCH_COMPAT_H_
#define MLTRAIN_TORCH_COMPAT_H_

#include <torch/optim/optimizer.h>

#include <sstream>
#include <string>
#include <type_traits>

namespace mltrain {

// The key under which LibTorch's optimizers keep parameter p's state in
// Optimizer::state(): the address of p's TensorImpl, printed as a string in
// LibTorch 1.x (what c10::guts::to_string, gone in 2.x, made of it) and the
// pointer itself in 2.x. Decided by the map's key type, not by a version.
template <typename Map>
typename Map::key_type optimizer_state_key(const torch::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

inline auto optimizer_state_key(const torch::optim::Optimizer& opt, const torch::Tensor& p) {
  return optimizer_state_key<std::decay_t<decltype(opt.state())>>(p);
}

}  // namespace mltrain

#endif  // MLTRAIN_TORCH_COMPAT_H_
