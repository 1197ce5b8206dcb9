// Internal: data-parallel ranks on torch.distributed's c10d (Gloo over a
// TCPStore rendezvous), and where a rank learns who it is.
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
#ifndef MLTRAIN_SRC_TRAIN_DIST_H_
#define MLTRAIN_SRC_TRAIN_DIST_H_

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

// One rank's connection to the others: a c10d::TCPStore (rank 0 serves it)
// and a c10d::ProcessGroupGloo. Every failure (store unreachable, a peer
// gone, a timeout) throws Error (exit 1) naming this rank and the store's
// address.
class Group {
 public:
  static std::unique_ptr<Group> connect(const RankEnv& env, double timeout_seconds);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const;
  int world() const;
  const std::string& address() const;  // host:port of the store

  // Every rank's `local` (same shape and dtype everywhere), in rank order.
  std::vector<at::Tensor> all_gather(const at::Tensor& local);
  // Sum over ranks in place, in Gloo's own order (benchmarks only: its bits
  // depend on the world size).
  void all_reduce_sum(at::Tensor* t);
  // Bytes from `root` to every rank (`bytes` is read on root, written elsewhere).
  void broadcast_bytes(std::string* bytes, int root);
  void barrier();

 private:
  struct Impl;
  explicit Group(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mltrain

#endif  // MLTRAIN_SRC_TRAIN_DIST_H_
