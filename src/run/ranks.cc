#include "mltrain/ranks.h"

#include <torch/torch.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <sstream>

// The Gloo backend needs Gloo's own headers, which not every LibTorch
// ships (Debian's libgloo-dev has them; the PyTorch wheels do not).
#if __has_include(<gloo/algorithm.h>) && \
    __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#define MLTRAIN_HAVE_GLOO 1
#define USE_C10D_GLOO 1
#include <glog/logging.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include "mltrain/error.h"
#include "run/process.h"

extern char** environ;

namespace mltrain {

namespace {

int parse_int(const std::map<std::string, std::string>& env, const std::string& name, int lo,
              int hi) {
  const std::string& v = env.at(name);
  std::size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size() || n < lo || n > hi) {
    fail_usage("environment variable " + name + "='" + v + "': expected an integer from " +
               std::to_string(lo) + " to " + std::to_string(hi));
  }
  return static_cast<int>(n);
}

const std::string* find(const std::map<std::string, std::string>& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() || it->second.empty() ? nullptr : &it->second;
}

// SLURM_NTASKS_PER_NODE / SLURM_STEP_TASKS_PER_NODE look like "2" or
// "2(x3),1": the tasks on the first node.
int first_count(const std::string& v) {
  std::size_t i = 0;
  int n = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])))
    n = n * 10 + (v[i++] - '0');
  return n;
}

[[maybe_unused]] bool loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

[[maybe_unused]] std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  // The first entry: up to a comma outside brackets.
  std::string first;
  int depth = 0;
  for (char c : nodelist) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) break;
    first += c;
  }
  const auto open = first.find('[');
  if (open == std::string::npos) return first;
  // prefix[07-09,12]suffix: the first number of the range, zero-padded as written.
  const auto close = first.find(']', open);
  std::string range =
      first.substr(open + 1, close == std::string::npos ? std::string::npos : close - open - 1);
  std::size_t end = 0;
  while (end < range.size() && range[end] != '-' && range[end] != ',') ++end;
  return first.substr(0, open) + range.substr(0, end) +
         (close == std::string::npos ? "" : first.substr(close + 1));
}

RankEnv rank_env_from(const std::map<std::string, std::string>& env) {
  RankEnv r;
  const bool torchrun = find(env, "RANK") && find(env, "WORLD_SIZE");
  const bool slurm = !torchrun && find(env, "SLURM_PROCID") && find(env, "SLURM_NTASKS");
  if (!torchrun && !slurm) return r;
  if (torchrun) {
    r.source = "torchrun";
    r.world = parse_int(env, "WORLD_SIZE", 1, 1 << 20);
    r.rank = parse_int(env, "RANK", 0, r.world - 1);
    r.local_world =
        find(env, "LOCAL_WORLD_SIZE") ? parse_int(env, "LOCAL_WORLD_SIZE", 1, r.world) : r.world;
    r.local_rank =
        find(env, "LOCAL_RANK") ? parse_int(env, "LOCAL_RANK", 0, r.local_world - 1) : r.rank;
  } else {
    r.source = "slurm";
    r.world = parse_int(env, "SLURM_NTASKS", 1, 1 << 20);
    r.rank = parse_int(env, "SLURM_PROCID", 0, r.world - 1);
    const std::string* per_node = find(env, "SLURM_STEP_TASKS_PER_NODE");
    if (!per_node) per_node = find(env, "SLURM_NTASKS_PER_NODE");
    r.local_world = per_node ? std::max(1, first_count(*per_node)) : 1;
    r.local_rank = find(env, "SLURM_LOCALID") ? parse_int(env, "SLURM_LOCALID", 0, 1 << 20) : 0;
  }
  if (r.world == 1) return RankEnv{};
  if (const std::string* a = find(env, "MASTER_ADDR")) {
    r.addr = *a;
  } else if (slurm && find(env, "SLURM_JOB_NODELIST")) {
    r.addr = first_slurm_host(*find(env, "SLURM_JOB_NODELIST"));
  } else {
    fail_usage("environment variable MASTER_ADDR is not set (rank " + std::to_string(r.rank) +
               " of " + std::to_string(r.world) + " needs the host of rank 0's store)");
  }
  if (find(env, "MASTER_PORT")) {
    r.port = parse_int(env, "MASTER_PORT", 1, 65535);
  } else if (slurm && find(env, "SLURM_JOB_ID")) {
    r.port = 20000 + parse_int(env, "SLURM_JOB_ID", 0, 2147483647) % 20000;
  } else {
    fail_usage("environment variable MASTER_PORT is not set (rank " + std::to_string(r.rank) +
               " of " + std::to_string(r.world) + " needs the port of rank 0's store)");
  }
  return r;
}

RankEnv rank_env_from_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return rank_env_from(env);
}

bool ranks_supported() {
#ifdef MLTRAIN_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

struct Group::Impl {
  int rank = 0, world = 1;
  std::string address;
  double timeout = 0;
#ifdef MLTRAIN_HAVE_GLOO
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
#endif

  [[noreturn]] void fail(const std::string& what, const std::exception& e) const {
    std::string why = e.what();
    const auto nl = why.find('\n');
    if (nl != std::string::npos) why = why.substr(0, nl);  // c10 appends a stack trace
    std::ostringstream seconds_text;
    seconds_text << timeout;
    const std::string seconds = seconds_text.str();
    fail_run("rank " + std::to_string(rank) + " of " + std::to_string(world) + ": " + what +
             " (store " + address + ", timeout " + seconds + " s, runtime.dist_timeout): " + why);
  }
};

Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() = default;
int Group::rank() const { return impl_->rank; }
int Group::world() const { return impl_->world; }
const std::string& Group::address() const { return impl_->address; }

#ifdef MLTRAIN_HAVE_GLOO

std::unique_ptr<Group> Group::connect(const RankEnv& env, double timeout_seconds) {
  // c10d logs its failures through glog on stderr (with a banner about
  // glog's initialisation); every one of them reaches the user as one line
  // of ours instead.
  // Once, before any c10d thread of this process exists.
  static std::once_flag quiet_glog;
  std::call_once(quiet_glog, [] { FLAGS_minloglevel = google::GLOG_FATAL; });
  auto impl = std::make_unique<Impl>();
  impl->rank = env.rank;
  impl->world = env.world;
  impl->address = env.addr + ":" + std::to_string(env.port);
  impl->timeout = timeout_seconds;
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.port);
    so.isServer = env.rank == 0;
    so.numWorkers = env.world;
    so.waitWorkers = true;
    so.timeout = millis(timeout_seconds);
    impl->store = c10::make_intrusive<c10d::TCPStore>(env.addr, so);
  } catch (const std::exception& e) {
    impl->fail(env.rank == 0 ? "the other ranks did not all reach the store"
                             : "cannot reach rank 0's store",
               e);
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(millis(timeout_seconds));
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname && *ifname) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (loopback(env.addr)) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    impl->pg =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world, options);
  } catch (const std::exception& e) {
    impl->fail("cannot connect to the other ranks", e);
  }
  return std::unique_ptr<Group>(new Group(std::move(impl)));
}

std::vector<at::Tensor> Group::all_gather(const at::Tensor& local) {
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < impl_->world; ++r) out[0].push_back(torch::empty_like(local));
  std::vector<at::Tensor> in{local.contiguous()};
  try {
    impl_->pg->allgather(out, in)->wait();
  } catch (const std::exception& e) {
    impl_->fail("lost a peer while gathering", e);
  }
  return out[0];
}

void Group::all_reduce_sum(at::Tensor* t) {
  std::vector<at::Tensor> ts{*t};
  try {
    impl_->pg->allreduce(ts)->wait();
  } catch (const std::exception& e) {
    impl_->fail("lost a peer in all-reduce", e);
  }
}

void Group::broadcast_bytes(std::string* bytes, int root) {
  try {
    torch::Tensor size = torch::tensor({static_cast<std::int64_t>(bytes->size())}, torch::kInt64);
    std::vector<at::Tensor> s{size};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    impl_->pg->broadcast(s, o)->wait();
    const std::int64_t n = size.item<std::int64_t>();
    torch::Tensor data = torch::empty({n}, torch::kUInt8);
    if (impl_->rank == root) std::memcpy(data.data_ptr(), bytes->data(), bytes->size());
    std::vector<at::Tensor> d{data};
    impl_->pg->broadcast(d, o)->wait();
    if (impl_->rank != root) bytes->assign(static_cast<const char*>(data.data_ptr()), n);
  } catch (const std::exception& e) {
    impl_->fail("lost a peer while sharing the starting state", e);
  }
}

void Group::barrier() {
  try {
    impl_->pg->barrier()->wait();
  } catch (const std::exception& e) {
    impl_->fail("lost a peer at a barrier", e);
  }
}

#else  // no Gloo: one process only

std::unique_ptr<Group> Group::connect(const RankEnv& env, double) {
  fail_usage("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world) + " (" +
             env.source +
             "): this build of ml-train has no distributed backend (LibTorch's Gloo headers "
             "were not found when it was built); run one process, or build against a LibTorch "
             "with Gloo (Debian's libtorch-dev + libgloo-dev)");
}

std::vector<at::Tensor> Group::all_gather(const at::Tensor& local) { return {local}; }
void Group::all_reduce_sum(at::Tensor*) {}
void Group::broadcast_bytes(std::string*, int) {}
void Group::barrier() {}

#endif

int launch_ranks_if_needed(const std::vector<std::string>& argv, std::int64_t nproc,
                           double grace_seconds) {
  if (nproc <= 1 || rank_env_from_environment().world > 1) return -1;
  if (argv.empty()) fail_usage("launch_ranks_if_needed: no command line to start the ranks with");
  if (nproc > 1024) fail_usage("runtime.nproc: " + std::to_string(nproc) + " ranks (at most 1024)");
  // This very program, wherever argv[0] pointed.
  std::vector<std::string> rank_argv = argv;
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) rank_argv[0].assign(self, static_cast<std::size_t>(n));
  return launch_ranks(rank_argv, static_cast<int>(nproc), grace_seconds);
}

std::shared_ptr<Group> connect_ranks(double timeout_seconds) {
  const RankEnv env = rank_env_from_environment();
  if (env.world <= 1) return nullptr;
  return std::shared_ptr<Group>(Group::connect(env, timeout_seconds));
}

std::vector<std::string> Group::all_gather_bytes(const std::string& bytes) {
  // Lengths first, then every rank's bytes padded to the longest.
  torch::Tensor len = torch::tensor({static_cast<std::int64_t>(bytes.size())}, torch::kInt64);
  std::int64_t longest = 0;
  std::vector<std::int64_t> lengths;
  for (const auto& l : all_gather(len)) {
    lengths.push_back(l.item<std::int64_t>());
    longest = std::max(longest, lengths.back());
  }
  torch::Tensor mine = torch::zeros({longest}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(mine.data_ptr(), bytes.data(), bytes.size());
  std::vector<std::string> out;
  const std::vector<at::Tensor> all = all_gather(mine);
  for (std::size_t r = 0; r < all.size(); ++r) {
    out.emplace_back(static_cast<const char*>(all[r].data_ptr()),
                     static_cast<std::size_t>(lengths[r]));
  }
  return out;
}

}  // namespace mltrain
