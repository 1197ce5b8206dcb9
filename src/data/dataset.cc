// prepare_data: files -> examples -> tokens -> vocabulary -> encoded splits.
#include <limits.h>
#include <malloc.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <iostream>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "core/fs.h"
#include "core/hash.h"
#include "core/parallel.h"
#include "data/prepare.h"
#include "data/record_stream.h"
#include "data/token_cache.h"
#include "mltrain/data.h"
#include "mltrain/error.h"
#include "mltrain/files.h"

namespace mltrain {
namespace {

// One split read as a stream: what data.json says of its file, and its
// encoded arrays (ids in the pieces they were encoded in, so that nothing is
// copied or reallocated while the corpus is read).
struct StreamedSplit {
  TextFile file;  // metadata only: rows stay empty
  std::int64_t rows = 0;
  std::vector<std::int64_t> offsets{0};
  std::vector<std::int64_t> labels;
  std::vector<std::vector<std::int32_t>> ids;
  // Building the vocabulary: the ids and labels of piece k are local to the
  // dictionary of thread slot[k].
  std::vector<int> slot;
  std::vector<std::size_t> piece_rows;
};

// A thread's dictionary while the training split is counted: local ids in
// first-seen order. The final ids depend only on the summed counts and the
// tokens (Vocab::from_counts), never on these local ids, the thread count or
// where the blocks were cut.
struct Dictionary {
  std::unordered_map<std::string, std::int32_t> tokens;
  std::vector<std::int64_t> counts;
  std::unordered_map<std::string, std::int64_t> labels;
};

// What one piece of a block gives.
struct Piece {
  std::vector<std::int32_t> ids;
  std::vector<std::int64_t> lengths;
  std::vector<std::int64_t> labels;
  std::int64_t repaired = 0;
};

class SplitReader {
 public:
  // vocab/labels null: counted into per-thread dictionaries (the training
  // split), mapped to final ids by finish_counting().
  SplitReader(const Config& cfg, const Tokenizer& tok, const Vocab* vocab,
              const std::vector<std::string>* labels, std::string labels_from, int threads,
              std::size_t block_bytes)
      : block_bytes_(block_bytes),
        cfg_(cfg),
        tok_(tok),
        vocab_(vocab),
        labels_(labels),
        labels_from_(std::move(labels_from)),
        threads_(threads),
        dicts_(static_cast<std::size_t>(threads)) {}

  StreamedSplit read(const std::string& path) {
    StreamedSplit out;
    out.file.path = path;
    out.file.format = resolve_format(path, cfg_.data.format);
    const char delim = format_delim(out.file.format);
    RecordStream in(path, out.file.format, block_bytes_);
    std::vector<std::string> header;
    // The next block is read (and gunzipped, and hashed) while this one is
    // parsed and encoded.
    auto read_next = [&in] {
      auto b = std::make_unique<RecordBlock>();
      if (!in.next(b.get())) b.reset();
      return b;
    };
    std::future<std::unique_ptr<RecordBlock>> ahead = std::async(std::launch::async, read_next);
    while (true) {
      std::unique_ptr<RecordBlock> block = ahead.get();
      if (!block) break;
      ahead = std::async(std::launch::async, read_next);
      std::string_view text = block->text;
      std::int64_t line = block->first_line;
      if (block->first && delim != '\0') {
        text.remove_prefix(parse_header(path, delim, text, &header, &line));
      }
      std::vector<std::size_t> starts = split_records(text, delim, threads_);
      std::vector<std::int64_t> lines(starts.size(), line);
      for (std::size_t p = 1; p < starts.size(); ++p) {
        lines[p] =
            lines[p - 1] + std::count(text.begin() + static_cast<std::ptrdiff_t>(starts[p - 1]),
                                      text.begin() + static_cast<std::ptrdiff_t>(starts[p]), '\n');
      }
      std::vector<Piece> pieces(starts.size());
      parallel_ranges(starts.size(), static_cast<int>(starts.size()),
                      [&](std::size_t p, std::size_t, int) {
                        const std::size_t end = p + 1 < starts.size() ? starts[p + 1] : text.size();
                        encode_piece(path, out.file.format, text.substr(starts[p], end - starts[p]),
                                     lines[p], header, static_cast<int>(p), &pieces[p]);
                      });
      for (std::size_t p = 0; p < pieces.size(); ++p) {
        Piece& piece = pieces[p];
        for (std::int64_t len : piece.lengths) out.offsets.push_back(out.offsets.back() + len);
        out.labels.insert(out.labels.end(), piece.labels.begin(), piece.labels.end());
        out.rows += static_cast<std::int64_t>(piece.lengths.size());
        out.file.repaired_utf8_rows += piece.repaired;
        piece.ids.shrink_to_fit();  // pieces are kept: no spare capacity
        out.ids.push_back(std::move(piece.ids));
        out.slot.push_back(static_cast<int>(p));
        out.piece_rows.push_back(piece.lengths.size());
      }
    }
    out.file.gzip = in.gzip();
    out.file.sha256 = in.sha256();
    out.file.bytes = in.bytes();
    if (out.rows == 0) fail_no_rows(path, delim, header);
    return out;
  }

  // After read() of the training split without a given vocabulary or label
  // set: builds them from the summed counts and maps every local id.
  void finish_counting(StreamedSplit* split, Vocab* vocab, std::vector<std::string>* labels) {
    if (vocab_ == nullptr) {
      std::unordered_map<std::string, std::int64_t> counts;
      for (const Dictionary& d : dicts_) {
        for (const auto& kv : d.tokens)
          counts[kv.first] += d.counts[static_cast<std::size_t>(kv.second)];
      }
      *vocab = Vocab::from_counts(counts, cfg_.tokenizer.min_freq, cfg_.tokenizer.max_vocab);
    }
    if (labels_ == nullptr) {
      std::set<std::string> names;
      for (const Dictionary& d : dicts_) {
        for (const auto& kv : d.labels) names.insert(kv.first);
      }
      labels->assign(names.begin(), names.end());
    }
    // Local id -> final id, per slot.
    std::vector<std::vector<std::int32_t>> ids(dicts_.size());
    std::vector<std::vector<std::int64_t>> label_ids(dicts_.size());
    for (std::size_t s = 0; s < dicts_.size(); ++s) {
      const Dictionary& d = dicts_[s];
      ids[s].resize(d.tokens.size());
      for (const auto& kv : d.tokens)
        ids[s][static_cast<std::size_t>(kv.second)] = vocab->id(kv.first);
      label_ids[s].resize(d.labels.size());
      for (const auto& kv : d.labels) {
        label_ids[s][static_cast<std::size_t>(kv.second)] =
            std::lower_bound(labels->begin(), labels->end(), kv.first) - labels->begin();
      }
    }
    std::size_t row = 0;
    std::vector<std::size_t> first_row(split->ids.size());
    for (std::size_t k = 0; k < split->ids.size(); ++k) {
      first_row[k] = row;
      row += split->piece_rows[k];
    }
    parallel_ranges(split->ids.size(), parallel_parts(split->ids.size(), threads_, 1),
                    [&](std::size_t begin, std::size_t end, int) {
                      for (std::size_t k = begin; k < end; ++k) {
                        const auto s = static_cast<std::size_t>(split->slot[k]);
                        if (vocab_ == nullptr) {
                          for (std::int32_t& id : split->ids[k])
                            id = ids[s][static_cast<std::size_t>(id)];
                        }
                        if (labels_ == nullptr) {
                          const std::size_t n = split->piece_rows[k];
                          for (std::size_t i = first_row[k]; i < first_row[k] + n; ++i) {
                            split->labels[i] =
                                label_ids[s][static_cast<std::size_t>(split->labels[i])];
                          }
                        }
                      }
                    });
    dicts_.clear();
  }

 private:
  void encode_piece(const std::string& path, const std::string& format, std::string_view text,
                    std::int64_t first_line, const std::vector<std::string>& header, int slot,
                    Piece* out) {
    TextFile rows;
    std::vector<std::string> hdr = header;
    parse_records(path, format, text, first_line, cfg_.data.text_field, cfg_.data.label_field, {},
                  &hdr, &rows);
    out->repaired = rows.repaired_utf8_rows;
    Dictionary& dict = dicts_[static_cast<std::size_t>(slot)];
    std::vector<std::string> tokens;
    for (Example& ex : rows.rows) {
      tok_.tokenize(ex.text, &tokens);
      std::string().swap(ex.text);
      if (vocab_ != nullptr) {
        for (const auto& t : tokens) out->ids.push_back(vocab_->id(t));
      } else {
        for (const auto& t : tokens) {
          auto it = dict.tokens.try_emplace(t, static_cast<std::int32_t>(dict.counts.size()));
          if (it.second) dict.counts.push_back(0);
          ++dict.counts[static_cast<std::size_t>(it.first->second)];
          out->ids.push_back(it.first->second);
        }
      }
      out->lengths.push_back(static_cast<std::int64_t>(tokens.size()));
      if (labels_ != nullptr) {
        auto it = std::lower_bound(labels_->begin(), labels_->end(), ex.label);
        if (it == labels_->end() || *it != ex.label) {
          std::string known;
          for (std::size_t k = 0; k < labels_->size() && k < 10; ++k) {
            known += (k ? ", " : "") + (*labels_)[k];
          }
          fail_usage(path + ":" + std::to_string(ex.line) + ": label \"" + ex.label +
                     "\" does not occur in " + labels_from_ + " (" + known +
                     (labels_->size() > 10 ? ", ..." : "") + ")");
        }
        out->labels.push_back(it - labels_->begin());
      } else {
        auto it = dict.labels.try_emplace(ex.label, static_cast<std::int64_t>(dict.labels.size()));
        out->labels.push_back(it.first->second);
      }
    }
  }

  std::size_t block_bytes_;
  const Config& cfg_;
  const Tokenizer& tok_;
  const Vocab* vocab_;
  const std::vector<std::string>* labels_;
  std::string labels_from_;
  int threads_;
  std::vector<Dictionary> dicts_;
};

// The absolute path of a file that was read, for data.json (the directory
// may not be UTF-8).
nlohmann::json resolved_json(const std::string& path) {
  char real[PATH_MAX];
  return json_text_or_bytes(::realpath(path.c_str(), real) ? real : path);
}

// `path` as the config wrote it; f.path is the file that was read.
nlohmann::json file_json(const std::string& split, const std::string& path, const TextFile& f,
                         std::int64_t rows) {
  return {{"split", split},     {"path", path},   {"resolved", resolved_json(f.path)},
          {"format", f.format}, {"gzip", f.gzip}, {"sha256", f.sha256},
          {"bytes", f.bytes},   {"rows", rows},   {"repaired_utf8_rows", f.repaired_utf8_rows}};
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
// `sha256s` gets the data files' hashes the key was made of ("" for none).
std::string token_cache_file(const Config& cfg, const std::vector<std::string>& paths,
                             std::vector<std::string>* sha256s) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& p : paths) {
    sha256s->push_back(p.empty() ? std::string() : sha256_file(p));
    files.push_back(p.empty() ? nlohmann::json() : nlohmann::json(sha256s->back()));
  }
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
    f["resolved"] = resolved_json(require_data_file(paths[k]));
  }
}

// The SentencePiece model of a run, and the record of it for data.json: the
// given one (fine-tuning), tokenizer.sp_model, or one trained on the training
// split, from the cache when it holds one for the same file and settings.
// A cache entry is the model's sha256, a newline and the model: a damaged
// entry is noticed, reported in one warning line and trained again.
nlohmann::json sentencepiece_model(const Config& cfg, const std::string& train_path,
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
    const nlohmann::json key = {{"train_sha256", sha256_file(train_path)},
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
      // Training reads every text: the only time the texts are all in memory.
      std::vector<std::string> texts;
      {
        TextFile train =
            read_examples(train_path, cfg.data.format, cfg.data.text_field, cfg.data.label_field);
        texts.reserve(train.rows.size());
        for (auto& ex : train.rows) texts.push_back(std::move(ex.text));
      }
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

// Hands memory freed by preparation back to the OS. ml-train's main keeps
// freed memory in the process (training reuses the same buffers every step);
// the encoded pieces, once in the cache entry or copied, are not reused, and
// keeping them would count the ids twice once the entry is mapped.
void release_free_memory() {
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

// Every split read, tokenized and encoded, before it becomes a PreparedData
// (mapped from the token cache, or owning its arrays).
struct Streamed {
  Vocab vocab;
  std::string tokenizer_model;
  std::vector<std::string> label_names;
  nlohmann::json fingerprint;
  StreamedSplit splits[3];  // train, val, test (empty without a test split)
};

Streamed prepare_streamed(const Config& cfg, const Vocab* vocab,
                          const std::vector<std::string>* labels, const std::string* sp_model,
                          std::size_t block_bytes = kPrepareBlockBytes) {
  const DataConfig& d = cfg.data;
  Streamed out;
  // Relative paths not found in the working directory are looked up in the
  // shipped data directory (mltrain/files.h); the identity keeps them as written.
  const std::string train_path = require_data_file(d.train_path);
  nlohmann::json tokenizer = nullptr;
  if (cfg.tokenizer.kind == "sentencepiece") {
    tokenizer = sentencepiece_model(cfg, train_path, sp_model, &out.tokenizer_model);
  }
  Tokenizer tok(cfg.tokenizer, out.tokenizer_model);
  // Preparation uses the loader's threads: runtime.num_workers never changes
  // a token id (PrepareData.SameIdsForAnyThreadCount).
  const int threads = static_cast<int>(std::max<std::int64_t>(1, cfg.runtime.num_workers));
  const std::string labels_from =
      labels != nullptr ? "the labels of the run model.init_from fine-tunes" : "the training split";
  {
    SplitReader train(cfg, tok, vocab, labels, labels_from, threads, block_bytes);
    out.splits[0] = train.read(train_path);
    if (vocab != nullptr) out.vocab = *vocab;
    if (labels != nullptr) out.label_names = *labels;
    train.finish_counting(&out.splits[0], &out.vocab, &out.label_names);
  }
  if (out.label_names.size() < 2) {
    fail_usage(d.train_path + ": needs at least two distinct labels, found " +
               std::to_string(out.label_names.size()));
  }
  SplitReader known(cfg, tok, &out.vocab, &out.label_names, labels_from, threads, block_bytes);
  out.splits[1] = known.read(require_data_file(d.val_path));
  const bool has_test = !d.test_path.empty();
  if (has_test) out.splits[2] = known.read(require_data_file(d.test_path));

  std::int64_t total = 0, unk = 0;
  for (const auto& piece : out.splits[0].ids) {
    total += static_cast<std::int64_t>(piece.size());
    unk += std::count(piece.begin(), piece.end(), Vocab::kUnk);
  }
  nlohmann::json files = nlohmann::json::array();
  files.push_back(file_json("train", d.train_path, out.splits[0].file, out.splits[0].rows));
  files.push_back(file_json("val", d.val_path, out.splits[1].file, out.splits[1].rows));
  if (has_test) {
    files.push_back(file_json("test", d.test_path, out.splits[2].file, out.splits[2].rows));
  }
  out.fingerprint = {
      {"files", files},
      {"labels", out.label_names},
      {"vocab", {{"size", out.vocab.size()}, {"sha256", sha256_hex(out.vocab.to_text())}}},
      {"train_tokens", total},
      {"tokenizer", tokenizer},
      {"train_unk_rate", total ? static_cast<double>(unk) / total : 0.0}};
  return out;
}

// The splits owning their arrays; each piece is freed once copied, so the
// ids are in memory about once.
PreparedData to_owned(Streamed s) {
  PreparedData out;
  out.vocab = std::move(s.vocab);
  out.tokenizer_model = std::move(s.tokenizer_model);
  out.label_names = std::move(s.label_names);
  out.fingerprint = std::move(s.fingerprint);
  const char* names[] = {"train", "val", "test"};
  EncodedSplit* splits[] = {&out.train, &out.val, &out.test};
  for (int k = 0; k < 3; ++k) {
    StreamedSplit& from = s.splits[k];
    std::vector<std::int32_t> ids;
    ids.reserve(static_cast<std::size_t>(from.offsets.back()));
    std::size_t freed = 0;
    for (auto& piece : from.ids) {
      ids.insert(ids.end(), piece.begin(), piece.end());
      freed += piece.size() * sizeof(std::int32_t);
      std::vector<std::int32_t>().swap(piece);
      if (freed > (std::size_t{128} << 20)) {  // so the copy never holds the ids twice
        release_free_memory();
        freed = 0;
      }
    }
    *splits[k] = EncodedSplit::owned(names[k], std::move(from.offsets), std::move(ids),
                                     std::move(from.labels));
  }
  return out;
}

void write_streamed(const std::string& file, const Streamed& s) {
  TokenCacheSplit splits[3];
  for (int k = 0; k < 3; ++k) {
    const StreamedSplit& from = s.splits[k];
    splits[k].n = static_cast<std::int64_t>(from.labels.size());
    splits[k].offsets = from.offsets.data();
    splits[k].labels = from.labels.data();
    for (const auto& piece : from.ids) splits[k].ids.emplace_back(piece.data(), piece.size());
  }
  const TokenCacheMeta meta{&s.fingerprint, &s.label_names, &s.vocab, &s.tokenizer_model};
  write_token_cache(file, meta, splits);
}

}  // namespace

PreparedData prepare_uncached(const Config& cfg, std::size_t block_bytes) {
  PreparedData out = to_owned(prepare_streamed(cfg, nullptr, nullptr, nullptr, block_bytes));
  release_free_memory();
  return out;
}

void EncodedSplit::add(const std::vector<std::int32_t>& ids, std::int64_t label) {
  if (mapped_) throw std::logic_error("EncodedSplit::add on a view");
  own_ids_.insert(own_ids_.end(), ids.begin(), ids.end());
  own_offsets_.push_back(static_cast<std::int64_t>(own_ids_.size()));
  own_labels_.push_back(label);
}

EncodedSplit EncodedSplit::owned(std::string name, std::vector<std::int64_t> offsets,
                                 std::vector<std::int32_t> ids, std::vector<std::int64_t> labels) {
  EncodedSplit s;
  s.name = std::move(name);
  s.own_offsets_ = std::move(offsets);
  s.own_ids_ = std::move(ids);
  s.own_labels_ = std::move(labels);
  return s;
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
    PreparedData out = to_owned(prepare_streamed(cfg, vocab, labels, sp_model));
    out.seconds = seconds();
    return out;
  }
  std::vector<std::string> key_sha256;
  const std::string file =
      token_cache_file(cfg,
                       {require_data_file(d.train_path), require_data_file(d.val_path),
                        d.test_path.empty() ? std::string() : require_data_file(d.test_path)},
                       &key_sha256);
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
  Streamed fresh = prepare_streamed(cfg, nullptr, nullptr, nullptr);
  // Written whole and renamed into place: concurrent runs write the same
  // bytes, and a reader sees an old entry or a new one. Training then maps
  // the entry, as every later run will, so the ids are in memory once. A
  // cache that cannot be written costs speed, not the run.
  bool mapped = false;
  try {
    // The files were hashed for the key and again as they were read: a file
    // that changed in between must not be cached under its old content.
    for (int k = 0; k < 3; ++k) {
      const std::string& read = fresh.splits[k].file.sha256;
      if (!read.empty() && read != key_sha256[static_cast<std::size_t>(k)]) {
        fail_usage(fresh.splits[k].file.path + " changed while it was being read");
      }
    }
    make_dirs(join_path(cache_root(cfg), "tokens"));
    write_streamed(file, fresh);
    nlohmann::json fingerprint = std::move(fresh.fingerprint);
    fresh = Streamed();  // the arrays go before the mapping comes
    release_free_memory();
    std::string why;
    if (load_token_cache(file, &out, &why, /*just_written=*/true)) {
      out.fingerprint = std::move(fingerprint);
      mapped = true;
    } else {
      std::cerr << "ml-train: warning: " << file
                << ": token cache entry just written is unreadable (" << why
                << "); preparing the data again\n";
    }
  } catch (const Error& e) {
    std::cerr << "ml-train: warning: token cache not written: " << e.what() << "\n";
  }
  if (!mapped) {
    if (fresh.fingerprint.is_null()) fresh = prepare_streamed(cfg, nullptr, nullptr, nullptr);
    out = to_owned(std::move(fresh));
    release_free_memory();
  }
  out.fingerprint["token_cache"] = {{"file", json_text_or_bytes(file)}, {"hit", false}};
  out.seconds = seconds();
  return out;
}

}  // namespace mltrain
