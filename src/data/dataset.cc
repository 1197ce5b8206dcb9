// prepare_data: files -> examples -> tokens -> vocabulary -> encoded splits.
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <set>
#include <thread>

#include "core/fs.h"
#include "core/hash.h"
#include "core/parallel.h"
#include "core/paths.h"
#include "data/token_cache.h"
#include "mltrain/data.h"
#include "mltrain/error.h"

namespace mltrain {
namespace {

// Tokenizes every row on `threads` threads; each writes only its own rows,
// so the result does not depend on the thread count or on scheduling.
std::vector<std::vector<std::string>> tokenize_all(const Tokenizer& tok,
                                                   const std::vector<Example>& rows, int threads) {
  std::vector<std::vector<std::string>> out(rows.size());
  parallel_ranges(rows.size(), parallel_parts(rows.size(), threads),
                  [&](std::size_t begin, std::size_t end, int) {
                    for (std::size_t i = begin; i < end; ++i) tok.tokenize(rows[i].text, &out[i]);
                  });
  return out;
}

// `labels_from`: where the label set came from, for the error message. Token
// ids are looked up on `threads` threads, then appended in row order.
EncodedSplit encode(const std::string& name, const TextFile& file,
                    const std::vector<std::vector<std::string>>& tokens, const Vocab& vocab,
                    const std::vector<std::string>& labels, const std::string& labels_from,
                    int threads) {
  EncodedSplit s;
  s.name = name;
  std::vector<std::vector<std::int32_t>> all(tokens.size());
  parallel_ranges(tokens.size(), parallel_parts(tokens.size(), threads),
                  [&](std::size_t begin, std::size_t end, int) {
                    for (std::size_t i = begin; i < end; ++i) {
                      all[i].reserve(tokens[i].size());
                      for (const auto& t : tokens[i]) all[i].push_back(vocab.id(t));
                    }
                  });
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::vector<std::int32_t>& ids = all[i];
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
    s.add(ids, it - labels.begin());
    std::vector<std::int32_t>().swap(all[i]);
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

// runtime.cache_dir, or <output_dir>/.cache (hidden: the output directory lists runs).
std::string cache_root(const Config& cfg) {
  return cfg.runtime.cache_dir.empty() ? join_path(cfg.runtime.output_dir, ".cache")
                                       : cfg.runtime.cache_dir;
}

// Where trained tokenizers are kept.
std::string tokenizer_cache(const Config& cfg) { return join_path(cache_root(cfg), "tokenizers"); }

// The token cache entry for cfg's data and tokenizer settings: everything
// the encoded splits depend on, nothing they do not (runtime, model, seed).
std::string token_cache_file(const Config& cfg, const std::vector<std::string>& paths) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& p : paths)
    files.push_back(p.empty() ? nlohmann::json() : nlohmann::json(sha256_file(p)));
  nlohmann::json tokenizer = cfg.to_json()["tokenizer"];
  if (!cfg.tokenizer.sp_model.empty()) {
    tokenizer["sp_model_sha256"] = sha256_file(require_data_file(cfg.tokenizer.sp_model));
  }
  const nlohmann::json key = {{"files", files},
                              {"format", cfg.data.format},
                              {"text_field", cfg.data.text_field},
                              {"label_field", cfg.data.label_field},
                              {"tokenizer", tokenizer},
                              {"code", kTokenizerCodeVersion},
                              {"sentencepiece", MLTRAIN_SENTENCEPIECE_VERSION}};
  return join_path(join_path(cache_root(cfg), "tokens"),
                   sha256_hex(key.dump()).substr(0, 32) + ".bin");
}

// A hit: the entry's fingerprint with the paths as this config names them.
void rename_files(const DataConfig& d, nlohmann::json* fingerprint) {
  const std::string paths[] = {d.train_path, d.val_path, d.test_path};
  for (auto& f : (*fingerprint)["files"]) {
    const std::string split = f.value("split", "");
    const int k = split == "train" ? 0 : split == "val" ? 1 : 2;
    f["path"] = paths[k];
    char real[PATH_MAX];
    const std::string found = require_data_file(paths[k]);
    f["resolved"] = json_text_or_bytes(::realpath(found.c_str(), real) ? real : found);
  }
}

// The SentencePiece model of a run, and the record of it for data.json: the
// given one (fine-tuning), tokenizer.sp_model, or one trained on the training
// split, from the cache when it holds one for the same file and settings.
// A cache entry is the model's sha256, a newline and the model: a damaged
// entry is noticed, reported in one warning line and trained again.
nlohmann::json sentencepiece_model(const Config& cfg, const TextFile& train,
                                   const std::string* given, std::string* model) {
  const TokenizerConfig& t = cfg.tokenizer;
  nlohmann::json record = {
      {"kind", "sentencepiece"},
      {"library", std::string("sentencepiece ") + MLTRAIN_SENTENCEPIECE_VERSION}};
  if (given != nullptr) {
    *model = *given;
    record["source"] = "model.init_from";
  } else if (!t.sp_model.empty()) {
    const std::string path = require_data_file(t.sp_model);
    *model = read_file(path);
    record["source"] = "tokenizer.sp_model";
    record["file_sha256"] = sha256_hex(*model);
  } else {
    // Everything the pieces depend on (not the seed: training reads every
    // text, it samples nothing; not the thread count).
    const nlohmann::json key = {{"train_sha256", train.sha256},
                                {"sp_type", t.sp_type},
                                {"vocab_size", t.vocab_size},
                                {"lowercase", t.lowercase},
                                {"sentencepiece", MLTRAIN_SENTENCEPIECE_VERSION},
                                {"text_field", cfg.data.text_field}};
    const std::string dir = tokenizer_cache(cfg);
    const std::string file = join_path(dir, sha256_hex(key.dump()).substr(0, 32) + ".model");
    record["cache_file"] = json_text_or_bytes(file);
    if (path_exists(file)) {
      const std::string bytes = read_file(file);
      const auto nl = bytes.find('\n');
      if (nl == 64 && sha256_hex(bytes.substr(65)) == bytes.substr(0, 64)) {
        *model = bytes.substr(65);
        record["source"] = "cache";
      } else {
        std::cerr << "ml-train: warning: " << file << ": damaged tokenizer cache entry; training "
                  << "the tokenizer again\n";
      }
    }
    if (model->empty()) {
      std::vector<std::string> texts;
      texts.reserve(train.rows.size());
      for (const auto& ex : train.rows) texts.push_back(ex.text);
      const int threads = static_cast<int>(std::max<std::int64_t>(1, cfg.runtime.num_workers));
      *model = train_sentencepiece(t, texts, cfg.seed, threads);
      make_dirs(dir);
      write_file_atomic(file, sha256_hex(*model) + "\n" + *model);
      record["source"] = "trained";
    }
  }
  std::int64_t pieces = 0;
  record["pieces_sha256"] = sentencepiece_fingerprint(*model, &pieces);
  record["pieces"] = pieces;
  return record;
}

PreparedData prepare_from_files(const Config& cfg, const Vocab* vocab,
                                const std::vector<std::string>* labels,
                                const std::string* sp_model) {
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

  nlohmann::json tokenizer = nullptr;
  if (cfg.tokenizer.kind == "sentencepiece") {
    tokenizer = sentencepiece_model(cfg, train, sp_model, &out.tokenizer_model);
  }
  Tokenizer tok(cfg.tokenizer, out.tokenizer_model);
  // Preparation uses the loader's threads: runtime.num_workers never changes
  // a token id (PrepareData.SameIdsForAnyThreadCount).
  const int threads = static_cast<int>(std::max<std::int64_t>(1, cfg.runtime.num_workers));
  auto train_tokens = tokenize_all(tok, train.rows, threads);
  out.vocab = vocab != nullptr ? *vocab
                               : Vocab::build(train_tokens, cfg.tokenizer.min_freq,
                                              cfg.tokenizer.max_vocab, threads);
  out.train =
      encode("train", train, train_tokens, out.vocab, out.label_names, labels_from, threads);
  std::vector<std::vector<std::string>>().swap(train_tokens);
  out.val = encode("val", val, tokenize_all(tok, val.rows, threads), out.vocab, out.label_names,
                   labels_from, threads);
  if (has_test) {
    out.test = encode("test", test, tokenize_all(tok, test.rows, threads), out.vocab,
                      out.label_names, labels_from, threads);
  }

  std::int64_t unk = 0, total = 0;
  total = out.train.total_tokens();
  unk = std::count(out.train.ids(), out.train.ids() + total, Vocab::kUnk);
  nlohmann::json files = nlohmann::json::array();
  files.push_back(file_json("train", d.train_path, train));
  files.push_back(file_json("val", d.val_path, val));
  if (has_test) files.push_back(file_json("test", d.test_path, test));
  std::string vocab_text = out.vocab.to_text();
  out.fingerprint = {{"files", files},
                     {"labels", out.label_names},
                     {"vocab", {{"size", out.vocab.size()}, {"sha256", sha256_hex(vocab_text)}}},
                     {"train_tokens", total},
                     {"tokenizer", tokenizer},
                     {"train_unk_rate", total ? static_cast<double>(unk) / total : 0.0}};
  return out;
}

}  // namespace

void EncodedSplit::add(const std::vector<std::int32_t>& ids, std::int64_t label) {
  if (mapped_) throw std::logic_error("EncodedSplit::add on a view");
  own_ids_.insert(own_ids_.end(), ids.begin(), ids.end());
  own_offsets_.push_back(static_cast<std::int64_t>(own_ids_.size()));
  own_labels_.push_back(label);
}

EncodedSplit EncodedSplit::view(std::string name, std::int64_t n, const std::int64_t* offsets,
                                const std::int32_t* ids, const std::int64_t* labels,
                                std::shared_ptr<const void> storage) {
  EncodedSplit s;
  s.name = std::move(name);
  s.mapped_ = true;
  s.n_ = n;
  s.m_offsets_ = offsets;
  s.m_ids_ = ids;
  s.m_labels_ = labels;
  s.storage_ = std::move(storage);
  s.own_offsets_.clear();
  return s;
}

PreparedData prepare_data(const Config& cfg, const Vocab* vocab,
                          const std::vector<std::string>* labels, const std::string* sp_model) {
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const DataConfig& d = cfg.data;
  const bool fine_tuning = vocab != nullptr || labels != nullptr || sp_model != nullptr;
  if (!cfg.runtime.token_cache || fine_tuning) {
    PreparedData out = prepare_from_files(cfg, vocab, labels, sp_model);
    out.seconds = seconds();
    return out;
  }
  const std::string file =
      token_cache_file(cfg, {require_data_file(d.train_path), require_data_file(d.val_path),
                             d.test_path.empty() ? std::string() : require_data_file(d.test_path)});
  PreparedData out;
  if (path_exists(file)) {
    std::string why;
    if (load_token_cache(file, &out, &why)) {
      rename_files(d, &out.fingerprint);
      nlohmann::json& tok = out.fingerprint["tokenizer"];
      if (tok.is_object() && tok.value("source", "") == "trained") tok["source"] = "cache";
      out.fingerprint["token_cache"] = {{"file", json_text_or_bytes(file)}, {"hit", true}};
      out.seconds = seconds();
      return out;
    }
    std::cerr << "ml-train: warning: " << file << ": damaged token cache entry (" << why
              << "); preparing the data again\n";
  }
  out = prepare_from_files(cfg, nullptr, nullptr, nullptr);
  // Written whole and renamed into place: concurrent runs write the same
  // bytes, and a reader sees an old entry or a new one. A cache that cannot
  // be written costs speed, not the run.
  try {
    make_dirs(join_path(cache_root(cfg), "tokens"));
    write_file_atomic(file, token_cache_bytes(out));
    // Train from the entry just written, as every later run will.
    PreparedData mapped;
    std::string why;
    if (load_token_cache(file, &mapped, &why)) {
      mapped.fingerprint = out.fingerprint;
      out = std::move(mapped);
    }
  } catch (const Error& e) {
    std::cerr << "ml-train: warning: token cache not written: " << e.what() << "\n";
  }
  out.fingerprint["token_cache"] = {{"file", json_text_or_bytes(file)}, {"hit", false}};
  out.seconds = seconds();
  return out;
}

}  // namespace mltrain
