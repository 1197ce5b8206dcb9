#include "mltrain/records.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <initializer_list>

#include "core/fs.h"
#include "core/hash.h"
#include "mltrain/error.h"
#include "mltrain/files.h"
#include "mltrain/layout.h"
#include "run/record_files.h"

namespace mltrain {
namespace {

using json = nlohmann::json;

// Checks fields of one JSON object read from `file`; `prefix` locates the
// object inside the file ("files[2]." for a data.json entry).
class Fields {
 public:
  Fields(const json& j, std::string file, std::string prefix = "")
      : j_(j), file_(std::move(file)), prefix_(std::move(prefix)) {
    if (!j_.is_object()) {
      fail(prefix_.empty() ? "expected a JSON object" : "'" + prefix_ + "' must be an object");
    }
  }

  // Present (a null counts: a field that must be a string is not null).
  bool has(const char* key) const { return j_.contains(key); }
  const json& get(const char* key) const { return j_[key]; }

  void string(const char* key, bool nullable = false) const {
    if (has(key) && !get(key).is_string() && !(nullable && get(key).is_null())) {
      bad(key, nullable ? "a string or null" : "a string");
    }
  }
  void one_of(const char* key, std::initializer_list<const char*> choices) const {
    if (!has(key)) return;
    std::string list;
    bool ok = false;
    for (const char* c : choices) {
      list += (list.empty() ? "" : "|") + std::string(c);
      ok = ok || (get(key).is_string() && get(key).get<std::string>() == c);
    }
    if (!ok) bad(key, "one of " + list);
  }
  void hex(const char* key, std::size_t length) const {
    if (!has(key)) return;
    const json& v = get(key);
    bool ok = v.is_string() && v.get<std::string>().size() == length;
    if (ok) {
      for (char c : v.get<std::string>()) ok = ok && std::isxdigit(static_cast<unsigned char>(c));
    }
    if (!ok) bad(key, std::to_string(length) + " hex digits");
  }
  void integer(const char* key, std::int64_t min) const {
    if (!has(key)) return;
    const json& v = get(key);
    if (!v.is_number_integer() || v.get<std::int64_t>() < min) {
      bad(key, "an integer >= " + std::to_string(min));
    }
  }
  void number(const char* key) const {
    if (has(key) && !get(key).is_number()) bad(key, "a number");
  }
  void array(const char* key) const {
    if (has(key) && !get(key).is_array()) bad(key, "a list");
  }
  void object(const char* key, bool nullable = false) const {
    if (has(key) && !get(key).is_object() && !(nullable && get(key).is_null())) {
      bad(key, nullable ? "an object or null" : "an object");
    }
  }
  [[noreturn]] void fail(const std::string& what) const { fail_usage(file_ + ": " + what); }

 private:
  [[noreturn]] void bad(const char* key, const std::string& expected) const {
    fail(std::string("field '") + prefix_ + key + "': expected " + expected + ", got " +
         json_line(get(key)));
  }

  const json& j_;
  std::string file_, prefix_;
};

std::string at(const std::string& list, std::size_t i) {
  return list + "[" + std::to_string(i) + "].";
}

json read_if_exists(const std::string& path, json (*read)(const std::string&)) {
  return path_exists(path) ? read(path) : json(nullptr);
}

}  // namespace

json read_object_file(const std::string& path) {
  json j = read_json_file(path);
  Fields(j, path);
  return j;
}

json read_run_file(const std::string& path) {
  json j = read_json_file(path);
  Fields f(j, path);
  f.one_of("status", {"running", "completed", "failed", "interrupted"});
  f.string("trainer", /*nullable=*/true);
  f.string("run_id");
  f.object("runtime");
  f.object("seeding");
  f.array("attempts");
  f.array("command");
  if (f.has("attempts")) {
    for (std::size_t i = 0; i < j["attempts"].size(); ++i) {
      Fields a(j["attempts"][i], path, at("attempts", i));
      a.one_of("status", {"running", "completed", "failed", "interrupted"});
      a.integer("resumed_from_step", -1);
      a.array("command");
      a.object("control");
      a.string("error");
    }
  }
  return j;
}

json read_summary_file(const std::string& path) {
  json j = read_json_file(path);
  Fields f(j, path);
  f.hex("state_hash", 16);
  f.hex("state_sha256", 64);
  f.hex("run_id", 8);
  f.integer("steps", 0);
  f.integer("epochs", 0);
  for (const char* split : {"val", "test"}) {
    f.object(split, /*nullable=*/true);
    if (!f.has(split) || j[split].is_null()) continue;
    Fields s(j[split], path, std::string(split) + ".");
    for (const char* k : {"acc", "f1", "loss"}) s.number(k);
    s.integer("n", 0);
  }
  return j;
}

json read_data_file(const std::string& path) {
  json j = read_json_file(path);
  Fields f(j, path);
  f.array("files");
  f.array("labels");
  f.object("vocab", /*nullable=*/true);
  if (f.has("files")) {
    for (std::size_t i = 0; i < j["files"].size(); ++i) {
      Fields e(j["files"][i], path, at("files", i));
      e.string("split");
      e.string("path");
      e.hex("sha256", 64);
      e.integer("rows", 0);
    }
  }
  if (f.has("labels")) {
    for (std::size_t i = 0; i < j["labels"].size(); ++i) {
      if (!j["labels"][i].is_string()) {
        f.fail("field 'labels[" + std::to_string(i) + "]': expected a string, got " +
               json_line(j["labels"][i]));
      }
    }
  }
  return j;
}

std::vector<json> read_metrics_file(const std::string& path) {
  std::vector<json> lines = read_jsonl_file(path);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    Fields f(lines[i], path + ":" + std::to_string(i + 1));
    f.integer("epoch", 0);
    f.integer("step", 0);
  }
  return lines;
}

std::vector<json> read_trace_file(const std::string& path) {
  std::vector<json> lines = read_jsonl_file(path);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    Fields f(lines[i], path + ":" + std::to_string(i + 1));
    f.integer("step", 1);
    f.integer("epoch", 0);
    f.integer("batch", 0);
    f.hex("loss", 8);
    f.hex("state", 16);
    f.number("lr");
  }
  return lines;
}

json read_sweep_file(const std::string& path) {
  json j = read_json_file(path);
  Fields f(j, path);
  f.string("sweep_id");
  f.array("runs");
  f.array("groups");
  for (const char* list : {"runs", "groups"}) {
    if (!f.has(list)) continue;
    for (std::size_t i = 0; i < j[list].size(); ++i) Fields(j[list][i], path, at(list, i));
  }
  for (std::size_t i = 0; f.has("runs") && i < j["runs"].size(); ++i) {
    Fields r(j["runs"][i], path, at("runs", i));
    r.string("run_id");
    r.string("status");
    r.array("overrides");
  }
  return j;
}

std::string RunRecord::status() const {
  const json s = json_at(run, "status");
  if (s.is_string()) return s.get<std::string>();
  return summary.is_object() ? "completed" : "";
}

std::string RunRecord::run_id() const {
  const std::string path = join_path(dir, layout::kConfig);
  return path_exists(path) ? sha1_hex(read_file(path)).substr(0, 8) : "";
}

std::string RunRecord::state_sha256() const {
  const json s = json_at(summary, "state_sha256");
  return s.is_string() ? s.get<std::string>() : "";
}

std::string RunRecord::state_hash() const {
  const json s = json_at(summary, "state_hash");
  return s.is_string() ? s.get<std::string>() : "";
}

bool is_run_dir(const std::string& dir) {
  return is_directory(dir) && path_exists(join_path(dir, layout::kConfig));
}

namespace {

// Every <name>.json of run_dir/sub, by name; {} when there is none.
json read_named_records(const std::string& run_dir, const char* sub) {
  json out = json::object();
  const std::string dir = join_path(run_dir, sub);
  for (const auto& name : list_dir(dir)) {
    const auto dot = name.rfind(".json");
    if (dot == std::string::npos || dot + 5 != name.size() || name[0] == '.') continue;
    out[name.substr(0, dot)] = read_object_file(join_path(dir, name));
  }
  return out;
}

void write_named_record(const std::string& run_dir, const char* sub, const char* what,
                        const std::string& name, const json& record) {
  bool ok = !name.empty() && name[0] != '.';
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok) {
    fail_usage(std::string(what) + " name '" + name + "': use letters, digits, '.', '_' and '-'");
  }
  if (!is_run_dir(run_dir)) fail_usage(run_dir + ": not an ml-train run directory");
  const std::string dir = join_path(run_dir, sub);
  make_dirs(dir);
  write_json_atomic(join_path(dir, name + ".json"), record);
}

// The last complete line of metrics.jsonl when it reads as a metrics line,
// else null. Reads the file's tail only, so that an index of thousands of
// runs does not read every epoch of every run.
json read_last_metrics_line(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return nullptr;
  const std::streamoff size = in.tellg();
  for (std::streamoff window = 4096;; window *= 4) {
    const std::streamoff start = std::max<std::streamoff>(0, size - window);
    std::string buf(static_cast<std::size_t>(size - start), '\0');
    in.seekg(start);
    if (!in.read(&buf[0], static_cast<std::streamsize>(buf.size()))) return nullptr;
    const std::size_t end = buf.rfind('\n');  // what follows it is a torn line
    if (end == std::string::npos && start == 0) return nullptr;
    const std::size_t nl =
        end == std::string::npos || end == 0 ? std::string::npos : buf.rfind('\n', end - 1);
    if (end == std::string::npos || (nl == std::string::npos && start > 0)) continue;
    const std::size_t begin = nl == std::string::npos ? 0 : nl + 1;
    try {
      json line = parse_json(buf.substr(begin, end - begin), path);
      Fields f(line, path);
      f.integer("epoch", 0);
      f.integer("step", 0);
      return line;
    } catch (const Error&) {
      return nullptr;
    }
  }
}

}  // namespace

RunRecord load_run(const std::string& dir, RunParts parts) {
  if (!is_directory(dir)) fail_usage(dir + ": not a directory");
  if (!path_exists(join_path(dir, layout::kConfig))) {
    fail_usage(dir + ": not an ml-train run directory (no " + layout::kConfig + ")");
  }
  RunRecord r;
  r.dir = dir;
  r.config = read_object_file(join_path(dir, layout::kConfig));
  r.run = read_if_exists(join_path(dir, layout::kRun), read_run_file);
  r.summary = read_if_exists(join_path(dir, layout::kSummary), read_summary_file);
  r.verifications = read_named_records(dir, layout::kVerifications);
  if (parts == RunParts::kBrief) {
    const json last = read_last_metrics_line(join_path(dir, layout::kMetrics));
    if (!last.is_null()) r.metrics.push_back(last);
    r.evaluations = json::object();
    return r;
  }
  r.env = read_if_exists(join_path(dir, layout::kEnv), read_object_file);
  r.data = read_if_exists(join_path(dir, layout::kData), read_data_file);
  r.metrics = read_metrics_file(join_path(dir, layout::kMetrics));
  r.trace = read_trace_file(join_path(dir, layout::kTrace));
  r.evaluations = read_named_records(dir, layout::kEvaluations);
  return r;
}

void record_evaluation(const std::string& run_dir, const std::string& name, const json& record) {
  write_named_record(run_dir, layout::kEvaluations, "evaluation", name, record);
}

void record_verification(const std::string& run_dir, const std::string& name, const json& record) {
  write_named_record(run_dir, layout::kVerifications, "verification", name, record);
}

json json_at(const json& j, const std::string& dotted_path) {
  const json* cur = &j;
  std::size_t pos = 0;
  while (true) {
    const auto dot = dotted_path.find('.', pos);
    const std::string part = dotted_path.substr(pos, dot == std::string::npos ? dot : dot - pos);
    if (!cur->is_object() || !cur->contains(part)) return nullptr;
    cur = &(*cur)[part];
    if (dot == std::string::npos) return *cur;
    pos = dot + 1;
  }
}

}  // namespace mltrain
