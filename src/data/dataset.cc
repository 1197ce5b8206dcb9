// prepare_data: files -> examples -> tokens -> vocabulary -> encoded splits.
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "core/hash.h"
#include "core/paths.h"
#include "mltrain/data.h"
#include "mltrain/error.h"

namespace mltrain {
namespace {

// Tokenizes every row on up to two threads; each thread writes only its own
// rows, so the result is independent of scheduling.
std::vector<std::vector<std::string>> tokenize_all(const Tokenizer& tok,
                                                   const std::vector<Example>& rows) {
  std::vector<std::vector<std::string>> out(rows.size());
  auto work = [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) tok.tokenize(rows[i].text, &out[i]);
  };
  const std::size_t n = rows.size();
  if (n < 256) {
    work(0, n);
    return out;
  }
  std::thread t(work, 0, n / 2);
  work(n / 2, n);
  t.join();
  return out;
}

// `labels_from`: where the label set came from, for the error message.
EncodedSplit encode(const std::string& name, const TextFile& file,
                    const std::vector<std::vector<std::string>>& tokens, const Vocab& vocab,
                    const std::vector<std::string>& labels, const std::string& labels_from) {
  EncodedSplit s;
  s.name = name;
  s.ids.resize(tokens.size());
  s.labels.resize(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    auto& ids = s.ids[i];
    ids.reserve(tokens[i].size());
    for (const auto& t : tokens[i]) ids.push_back(vocab.id(t));
    auto it = std::lower_bound(labels.begin(), labels.end(), file.rows[i].label);
    if (it == labels.end() || *it != file.rows[i].label) {
      std::string known;
      for (std::size_t k = 0; k < labels.size() && k < 10; ++k) {
        known += (k ? ", " : "") + labels[k];
      }
      fail_usage(file.path + ":" + std::to_string(file.rows[i].line) + ": label \"" +
                 file.rows[i].label + "\" does not occur in " + labels_from + " (" + known +
                 (labels.size() > 10 ? ", ..." : "") + ")");
    }
    s.labels[i] = it - labels.begin();
  }
  return s;
}

// `path` as the config wrote it; f.path is the file that was read.
nlohmann::json file_json(const std::string& split, const std::string& path, const TextFile& f) {
  char real[PATH_MAX];
  const std::string resolved = ::realpath(f.path.c_str(), real) ? real : f.path;
  return {{"split", split},
          {"path", path},
          {"resolved", json_text_or_bytes(resolved)},  // the directory may not be UTF-8
          {"format", f.format},
          {"gzip", f.gzip},
          {"sha256", f.sha256},
          {"bytes", f.bytes},
          {"rows", static_cast<std::int64_t>(f.rows.size())},
          {"repaired_utf8_rows", f.repaired_utf8_rows}};
}

}  // namespace

PreparedData prepare_data(const Config& cfg, const Vocab* vocab,
                          const std::vector<std::string>* labels) {
  auto t0 = std::chrono::steady_clock::now();
  const DataConfig& d = cfg.data;
  PreparedData out;
  // Relative paths not found in the working directory are looked up in the
  // shipped data directory (core/paths.h); the identity keeps them as written.
  TextFile train =
      read_examples(require_data_file(d.train_path), d.format, d.text_field, d.label_field);
  TextFile val =
      read_examples(require_data_file(d.val_path), d.format, d.text_field, d.label_field);
  TextFile test;
  bool has_test = !d.test_path.empty();
  if (has_test) {
    test = read_examples(require_data_file(d.test_path), d.format, d.text_field, d.label_field);
  }

  const std::string labels_from =
      labels != nullptr ? "the labels of the run model.init_from fine-tunes" : "the training split";
  if (labels != nullptr) {
    out.label_names = *labels;
  } else {
    std::set<std::string> names;
    for (const auto& ex : train.rows) names.insert(ex.label);
    out.label_names.assign(names.begin(), names.end());
  }
  if (out.label_names.size() < 2) {
    fail_usage(d.train_path + ": needs at least two distinct labels, found " +
               std::to_string(out.label_names.size()));
  }

  Tokenizer tok(cfg.tokenizer);
  auto train_tokens = tokenize_all(tok, train.rows);
  out.vocab = vocab != nullptr
                  ? *vocab
                  : Vocab::build(train_tokens, cfg.tokenizer.min_freq, cfg.tokenizer.max_vocab);
  out.train = encode("train", train, train_tokens, out.vocab, out.label_names, labels_from);
  train_tokens.clear();
  out.val =
      encode("val", val, tokenize_all(tok, val.rows), out.vocab, out.label_names, labels_from);
  if (has_test) {
    out.test =
        encode("test", test, tokenize_all(tok, test.rows), out.vocab, out.label_names, labels_from);
  }

  std::int64_t unk = 0, total = 0;
  for (const auto& ids : out.train.ids) {
    total += static_cast<std::int64_t>(ids.size());
    unk += std::count(ids.begin(), ids.end(), Vocab::kUnk);
  }
  nlohmann::json files = nlohmann::json::array();
  files.push_back(file_json("train", d.train_path, train));
  files.push_back(file_json("val", d.val_path, val));
  if (has_test) files.push_back(file_json("test", d.test_path, test));
  std::string vocab_text = out.vocab.to_text();
  out.fingerprint = {{"files", files},
                     {"labels", out.label_names},
                     {"vocab", {{"size", out.vocab.size()}, {"sha256", sha256_hex(vocab_text)}}},
                     {"train_tokens", total},
                     {"train_unk_rate", total ? static_cast<double>(unk) / total : 0.0}};
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace mltrain
