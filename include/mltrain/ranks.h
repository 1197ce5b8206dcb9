// Data-parallel ranks: where a process learns its place in a job, and the
// connection between the ranks (torch.distributed's c10d: a TCPStore
// rendezvous and ProcessGroupGloo).
//
// Most loops never call this header: Run::open (run.h) reads the rank's
// environment, connects the ranks and gives the loop run.rank(),
// run.world() and run.group(); GradShards (shards.h) combines gradients over
// them. It is public for loops that need a collective of their own (e.g. an
// evaluation shared over the ranks) and for launching ranks.
//
// A rank's place comes from the launcher's environment, the way PyTorch
// programs get it:
//   torchrun / ml-train's own launcher: RANK, WORLD_SIZE, LOCAL_RANK,
//     LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT;
//   Slurm (srun): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
//     SLURM_NTASKS_PER_NODE / SLURM_STEP_TASKS_PER_NODE, SLURM_JOB_NODELIST
//     (the store runs on its first host); MASTER_ADDR / MASTER_PORT win when
//     set, else the port is 20000 + SLURM_JOB_ID % 20000.
// torchrun's variables win over Slurm's. None set (or one task): one process.
#ifndef MLTRAIN_RANKS_H_
#define MLTRAIN_RANKS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}  // namespace at

namespace mltrain {

struct RankEnv {
  int rank = 0, world = 1;
  int local_rank = 0, local_world = 1;
  std::string addr;  // where rank 0 serves the store
  int port = 0;
  std::string source;  // "torchrun" or "slurm"; "" = a single process
};

// Reads the variables above from `env` (name -> value). Malformed values are
// errors (exit 2) naming the variable.
RankEnv rank_env_from(const std::map<std::string, std::string>& env);
// The same, from this process's environment.
RankEnv rank_env_from_environment();
// The first host of a Slurm node list: "gpu[07-09,12],cpu1" -> "gpu07".
std::string first_slurm_host(const std::string& nodelist);

// The local launcher (`runtime.nproc`): when `nproc` > 1 and this process is
// not already a rank of a job (no torchrun or Slurm ranks in its
// environment), starts `nproc` copies of `argv` (argv[0] = this program; a
// path, or a name on PATH) with torchrun's environment and a free port on
// 127.0.0.1, forwards SIGINT / SIGTERM to them, and waits. When one rank
// fails, the others get SIGTERM, then SIGKILL after `grace_seconds`, and one
// line on stderr names the rank ("ml-train: rank 1 of 2 was killed by
// SIGKILL (signal 9); stopped the other ranks"). A rank that stops itself
// (verify's stop_at) stops the job, and the launcher then stops itself the
// same way. Returns the job's exit status (0, the failed rank's code, or
// 128 + its signal), or -1 when this process should do the work itself
// (nproc <= 1, or already a rank). Usage, first thing in main():
//
//   if (int rc = mltrain::launch_ranks_if_needed(argv_vector, nproc); rc >= 0) return rc;
int launch_ranks_if_needed(const std::vector<std::string>& argv, std::int64_t nproc,
                           double grace_seconds = 10.0);

// True when this build can connect ranks (LibTorch's Gloo backend was
// found at build time). Without it, a job of several ranks fails at
// Group::connect with an error saying so.
bool ranks_supported();

// One rank's connection to the others: a c10d::TCPStore (rank 0 serves it)
// and a c10d::ProcessGroupGloo. Every failure (store unreachable, a peer
// gone, a timeout) throws Error (exit 1) naming this rank and the store's
// address. Every call is a collective: every rank makes the same calls in
// the same order. Not thread-safe.
class Group {
 public:
  static std::unique_ptr<Group> connect(const RankEnv& env, double timeout_seconds);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const;
  int world() const;
  const std::string& address() const;  // host:port of the store

  // Every rank's `local` (same shape and dtype everywhere, on the CPU), in
  // rank order.
  std::vector<at::Tensor> all_gather(const at::Tensor& local);
  // Sum over ranks in place, in Gloo's own order (benchmarks only: its bits
  // depend on the world size).
  void all_reduce_sum(at::Tensor* t);
  // Bytes from `root` to every rank (`bytes` is read on root, written elsewhere).
  void broadcast_bytes(std::string* bytes, int root);
  // Every rank's `bytes` (any lengths), in rank order.
  std::vector<std::string> all_gather_bytes(const std::string& bytes);
  void barrier();

 private:
  struct Impl;
  explicit Group(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// This process's ranks, connected (Group::connect with the environment's
// RankEnv), or null when the environment names one process. Run::open does
// this itself; call it first only when the loop must coordinate something
// before open() (e.g. rank 0 prepares a data cache the others then read).
std::shared_ptr<Group> connect_ranks(double timeout_seconds);

}  // namespace mltrain

#endif  // MLTRAIN_RANKS_H_
