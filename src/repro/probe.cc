// Module probes (mltrain/probe.h).
#include "mltrain/probe.h"

#include <torch/torch.h>

#include <atomic>
#include <mutex>

#include "repro/state_dict.h"

namespace mltrain {
namespace {

std::atomic<bool> g_armed{false};
std::mutex g_mu;
ProbeRecords g_records;  // guarded by g_mu (gradient hooks may run on autograd's threads)

}  // namespace

at::Tensor probe(const std::string& name, const at::Tensor& output) {
  if (!g_armed.load(std::memory_order_relaxed) || !at::GradMode::is_enabled()) return output;
  const std::string sha = tensor_sha256(output.detach());
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_records.forward.emplace_back(name, sha);
  }
  if (output.requires_grad()) {
    // A copy of the handle: the hook must not keep `name` by reference.
    output.register_hook([name](const at::Tensor& grad) {
      if (!g_armed.load(std::memory_order_relaxed)) return;
      const std::string g = tensor_sha256(grad);
      std::lock_guard<std::mutex> lock(g_mu);
      g_records.backward.emplace_back(name, g);
    });
  }
  return output;
}

void probe_arm() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_records = ProbeRecords();
  g_armed.store(true);
}

ProbeRecords probe_disarm() {
  g_armed.store(false);
  std::lock_guard<std::mutex> lock(g_mu);
  ProbeRecords out = std::move(g_records);
  g_records = ProbeRecords();
  return out;
}

bool probe_armed() { return g_armed.load(); }

}  // namespace mltrain
