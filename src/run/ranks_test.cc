#include "mltrain/ranks.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <future>

#include "mltrain/error.h"
#include "mltrain/shards.h"

namespace mltrain {
namespace {

using Env = std::map<std::string, std::string>;

TEST(RankEnv, TorchrunSlurmOrOneProcess) {
  EXPECT_EQ(rank_env_from({}).world, 1);
  EXPECT_EQ(rank_env_from({{"PATH", "/bin"}}).source, "");
  RankEnv t = rank_env_from({{"RANK", "3"},
                             {"WORLD_SIZE", "4"},
                             {"LOCAL_RANK", "1"},
                             {"LOCAL_WORLD_SIZE", "2"},
                             {"MASTER_ADDR", "node7"},
                             {"MASTER_PORT", "29500"},
                             {"SLURM_PROCID", "0"},  // torchrun's variables win
                             {"SLURM_NTASKS", "8"}});
  EXPECT_EQ(t.source, "torchrun");
  EXPECT_EQ(t.rank, 3);
  EXPECT_EQ(t.world, 4);
  EXPECT_EQ(t.local_rank, 1);
  EXPECT_EQ(t.local_world, 2);
  EXPECT_EQ(t.addr, "node7");
  EXPECT_EQ(t.port, 29500);
  RankEnv s = rank_env_from({{"SLURM_PROCID", "5"},
                             {"SLURM_NTASKS", "8"},
                             {"SLURM_LOCALID", "1"},
                             {"SLURM_STEP_TASKS_PER_NODE", "4(x2)"},
                             {"SLURM_JOB_NODELIST", "gpu[07-09,12]"},
                             {"SLURM_JOB_ID", "123456"}});
  EXPECT_EQ(s.source, "slurm");
  EXPECT_EQ(s.rank, 5);
  EXPECT_EQ(s.world, 8);
  EXPECT_EQ(s.local_rank, 1);
  EXPECT_EQ(s.local_world, 4);
  EXPECT_EQ(s.addr, "gpu07");
  EXPECT_EQ(s.port, 20000 + 123456 % 20000);
  // One Slurm task (an sbatch array task, a plain srun) is one process.
  EXPECT_EQ(rank_env_from({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}}).world, 1);
}

TEST(RankEnv, BadValuesNameTheVariable) {
  auto message = [](const Env& env) {
    try {
      rank_env_from(env);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(
      message({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}})
          .find("RANK='2'"),
      std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "x"}}).find("WORLD_SIZE='x'"),
            std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}}).find("MASTER_ADDR"),
            std::string::npos);
  EXPECT_NE(
      message({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}})
          .find("MASTER_PORT='70000'"),
      std::string::npos);
}

TEST(RankEnv, FirstSlurmHost) {
  EXPECT_EQ(first_slurm_host("node1"), "node1");
  EXPECT_EQ(first_slurm_host("node1,node2"), "node1");
  EXPECT_EQ(first_slurm_host("gpu[07-09,12]"), "gpu07");
  EXPECT_EQ(first_slurm_host("gpu[3,5],cpu[1-2]"), "gpu3");
  EXPECT_EQ(first_slurm_host("rack[1-2]-n[01-04]"), "rack1-n[01-04]");
}

// A port nobody listens on a moment from now.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Rank r of two ranks (threads of this process) on the store at `port`.
std::unique_ptr<Group> connect_rank(int r, int port) {
  RankEnv env;
  env.rank = r;
  env.world = 2;
  env.addr = "127.0.0.1";
  env.port = port;
  return Group::connect(env, 30);
}

// Two ranks in one process (threads): all_gather in rank order, broadcast of bytes.
TEST(Group, GatherAndBroadcastOverGloo) {
  const int port = free_port();
  auto rank = [&](int r) {
    auto g = connect_rank(r, port);
    std::vector<torch::Tensor> all = g->all_gather(torch::full({3}, static_cast<float>(r + 1)));
    std::string bytes = r == 0 ? std::string("state\0bytes", 11) : std::string();
    g->broadcast_bytes(&bytes, 0);
    const std::vector<std::string> each = g->all_gather_bytes(std::string(r == 0 ? 5 : 0, 'x'));
    return std::make_pair(all, bytes + "|" + each[0] + "|" + each[1]);
  };
  auto f1 = std::async(std::launch::async, rank, 1);
  auto r0 = rank(0);
  auto r1 = f1.get();
  for (const auto& r : {r0, r1}) {
    ASSERT_EQ(r.first.size(), 2u);
    EXPECT_TRUE(torch::equal(r.first[0], torch::full({3}, 1.0f)));
    EXPECT_TRUE(torch::equal(r.first[1], torch::full({3}, 2.0f)));
    EXPECT_EQ(r.second, std::string("state\0bytes|xxxxx|", 18));
  }
}

TEST(GradShards, RowsAndOwners) {
  EXPECT_EQ(shard_rows(7, 0, 3).begin, 0);
  EXPECT_EQ(shard_rows(7, 0, 3).end, 2);
  EXPECT_EQ(shard_rows(7, 1, 3).end, 4);
  EXPECT_EQ(shard_rows(7, 2, 3).end, 7);
  EXPECT_EQ(shard_rows(2, 0, 3).size(), 0);  // more shards than rows: some are empty
  EXPECT_EQ(shards_of_rank(5, 1, 2), (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(shards_of_rank(3, 0, 1), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_THROW(shard_rows(7, 3, 3), Error);
  EXPECT_THROW(GradShards(nullptr, {torch::zeros({2}, torch::kDouble)}, 1), Error);
  // The generator of a shard is a function of (seed, step, shard) alone.
  auto draw = [](std::int64_t step, std::int64_t k) {
    at::Generator g = shard_generator(42, step, k);
    return torch::rand({4}, g);
  };
  EXPECT_TRUE(torch::equal(draw(3, 1), draw(3, 1)));
  EXPECT_FALSE(torch::equal(draw(3, 1), draw(3, 2)));
  EXPECT_FALSE(torch::equal(draw(3, 1), draw(4, 1)));
}

// The gradient of a batch of 7 rows in 3 shards (a linear model, mean
// squared error, shard k weighted by n_k / n): computed by one process, by
// two ranks, and by hand (each shard's gradient alone, added in shard order)
// -- the same bits. A parameter no shard reaches gets zeros.
struct Tiny {
  torch::nn::Linear fc{nullptr};
  torch::Tensor unused;
  std::vector<torch::Tensor> params() const { return {fc->weight, fc->bias, unused}; }
};
Tiny make_tiny() {
  torch::manual_seed(5);
  Tiny t;
  t.fc = torch::nn::Linear(4, 3);
  t.unused = torch::ones({2}).set_requires_grad(true);
  return t;
}
float shard_loss(Tiny& t, const torch::Tensor& x, const torch::Tensor& y, std::int64_t k) {
  const ShardRows rows = shard_rows(x.size(0), k, 3);
  torch::Tensor l =
      torch::mse_loss(t.fc(x.slice(0, rows.begin, rows.end)), y.slice(0, rows.begin, rows.end)) *
      (static_cast<float>(rows.size()) / static_cast<float>(x.size(0)));
  l.backward();
  return l.item<float>();
}

TEST(GradShards, TwoRanksGiveTheBitsOfOneProcess) {
  torch::manual_seed(9);
  const torch::Tensor x = torch::randn({7, 4}), y = torch::randn({7, 3});
  // By hand.
  Tiny hand = make_tiny();
  std::vector<torch::Tensor> sums;
  float hand_loss = 0;
  for (std::int64_t k = 0; k < 3; ++k) {
    for (auto& p : hand.params()) p.mutable_grad().reset();
    hand_loss += shard_loss(hand, x, y, k);
    for (std::size_t i = 0; i < 2; ++i) {
      torch::Tensor g = hand.params()[i].grad().clone();
      if (k == 0) {
        sums.push_back(g);
      } else {
        sums[i].add_(g);
      }
    }
  }
  // One process, three shards.
  Tiny one = make_tiny();
  GradShards single(nullptr, one.params(), 3);
  const float one_loss = single.backward([&](std::int64_t k) { return shard_loss(one, x, y, k); });
  EXPECT_EQ(one_loss, hand_loss);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_TRUE(torch::equal(one.params()[i].grad(), sums[i]));
  EXPECT_TRUE(torch::equal(one.unused.grad(), torch::zeros({2})));
  // Two ranks (threads of this process): rank 0 computes shards 0 and 2, rank 1 shard 1.
  Tiny ranks[2] = {make_tiny(), make_tiny()};
  const int port = free_port();
  auto rank = [&](int r) {
    auto g = connect_rank(r, port);
    GradShards shards(g.get(), ranks[r].params(), 3);
    std::vector<std::int64_t> seen;
    const float loss = shards.backward([&](std::int64_t k) {
      seen.push_back(k);
      return shard_loss(ranks[r], x, y, k);
    });
    EXPECT_EQ(seen, shards_of_rank(3, r, 2));
    return loss;
  };
  auto f1 = std::async(std::launch::async, rank, 1);
  const float l0 = rank(0), l1 = f1.get();
  EXPECT_EQ(l0, one_loss);
  EXPECT_EQ(l1, one_loss);
  for (const Tiny& t : ranks) {
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_TRUE(torch::equal(t.params()[i].grad(), one.params()[i].grad())) << "param " << i;
    }
  }
}

// Row-sparse gradients (an embedding with sparse gradients, as LibTorch's
// own gives them: not coalesced) through three shards: the rows any shard
// touched, with the bits of the dense path's shard-order sum, in one process
// and over two ranks.
struct Embedded {
  torch::Tensor table = torch::randn({50, 4}).requires_grad_(true);
  torch::nn::Linear fc{4, 2};
  std::vector<torch::Tensor> params() const { return {table, fc->weight, fc->bias}; }
};
Embedded make_embedded() {
  torch::manual_seed(11);
  return Embedded{};
}
float embedded_loss(Embedded& m, const torch::Tensor& ids, const torch::Tensor& y, std::int64_t k,
                    bool sparse) {
  const ShardRows rows = shard_rows(ids.size(0), k, 3);
  const torch::Tensor x = torch::nn::functional::embedding(
      ids.slice(0, rows.begin, rows.end), m.table,
      torch::nn::functional::EmbeddingFuncOptions().sparse(sparse));  // (n_k, 3, 4)
  torch::Tensor l = torch::mse_loss(m.fc(x.mean(1)), y.slice(0, rows.begin, rows.end)) *
                    (static_cast<float>(rows.size()) / static_cast<float>(ids.size(0)));
  l.backward();
  return l.item<float>();
}

TEST(GradShards, SparseRowsAddLikeTheDenseSum) {
  torch::manual_seed(5);
  const torch::Tensor ids = torch::randint(0, 10, {7, 3}, torch::kLong);  // rows 10..49 untouched
  const torch::Tensor y = torch::randn({7, 2});
  Embedded dense = make_embedded();
  GradShards d(nullptr, dense.params(), 3);
  const float dense_loss =
      d.backward([&](std::int64_t k) { return embedded_loss(dense, ids, y, k, false); });

  Embedded one = make_embedded();
  GradShards s(nullptr, one.params(), 3, {one.table});
  const float one_loss =
      s.backward([&](std::int64_t k) { return embedded_loss(one, ids, y, k, true); });
  EXPECT_EQ(one_loss, dense_loss);
  const torch::Tensor g = one.table.grad();
  ASSERT_TRUE(g.is_sparse());
  EXPECT_TRUE(g.is_coalesced());
  EXPECT_TRUE(torch::equal(g._indices()[0], std::get<0>(at::_unique(ids.view({-1}), true))));
  EXPECT_TRUE(torch::equal(g.to_dense(), dense.table.grad()));
  EXPECT_TRUE(torch::equal(one.fc->weight.grad(), dense.fc->weight.grad()));

  Embedded ranks[2] = {make_embedded(), make_embedded()};
  const int port = free_port();
  auto rank = [&](int r) {
    auto group = connect_rank(r, port);
    GradShards shards(group.get(), ranks[r].params(), 3, {ranks[r].table});
    return shards.backward(
        [&](std::int64_t k) { return embedded_loss(ranks[r], ids, y, k, true); });
  };
  auto f1 = std::async(std::launch::async, rank, 1);
  const float l0 = rank(0), l1 = f1.get();
  EXPECT_EQ(l0, one_loss);
  EXPECT_EQ(l1, one_loss);
  for (const Embedded& m : ranks) {
    EXPECT_TRUE(torch::equal(m.table.grad()._indices(), g._indices()));
    EXPECT_TRUE(torch::equal(m.table.grad()._values(), g._values()));
    EXPECT_TRUE(torch::equal(m.fc->bias.grad(), one.fc->bias.grad()));
  }
}

TEST(Group, UnreachableStoreNamesItsAddress) {
  RankEnv env;
  env.rank = 1;
  env.world = 2;
  env.addr = "127.0.0.1";
  env.port = free_port();
  try {
    Group::connect(env, 0.5);
    FAIL() << "connected to nothing";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kFailure);
    const std::string m = e.what();
    EXPECT_NE(m.find("127.0.0.1:" + std::to_string(env.port)), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace mltrain
