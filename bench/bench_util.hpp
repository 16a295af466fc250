#pragma once
// Small helpers shared by the bench/ programs: option parsing, librdkafka config, JSON output.
// Header-only and deliberately plain: the benchmark programs must not depend on PEMX's stages.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace pemx::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// --name value / --name=value options, each allowed once unless listed as repeatable.
class Options {
 public:
  Options(std::string program, std::string usage, std::set<std::string> known,
          std::set<std::string> repeatable = {})
      : program_(std::move(program)), usage_(std::move(usage)), known_(std::move(known)),
        repeatable_(std::move(repeatable)) {}

  // Exits with 0 on --help, 2 on a bad argument.
  void parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        std::cout << usage_;
        std::exit(0);
      }
      if (arg.rfind("--", 0) != 0) fail("unexpected argument \"" + arg + "\"");
      std::string name = arg.substr(2);
      std::string value;
      auto eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else {
        if (i + 1 >= argc) fail("--" + name + " needs a value");
        value = argv[++i];
      }
      if (known_.count(name) == 0) fail("unknown option --" + name);
      if (repeatable_.count(name) == 0 && values_.count(name) != 0) {
        fail("--" + name + " given twice");
      }
      values_.emplace(name, value);
    }
  }

  std::string str(const std::string& name, const std::string& def) const {
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second;
  }
  std::int64_t integer(const std::string& name, std::int64_t def, std::int64_t min,
                       std::int64_t max) const {
    auto it = values_.find(name);
    if (it == values_.end()) return def;
    char* end = nullptr;
    long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (end == it->second.c_str() || *end != '\0' || v < min || v > max) {
      fail("--" + name + " expects an integer in [" + std::to_string(min) + ", " +
           std::to_string(max) + "], got \"" + it->second + "\"");
    }
    return v;
  }
  std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> out;
    auto [b, e] = values_.equal_range(name);
    for (auto it = b; it != e; ++it) out.push_back(it->second);
    return out;
  }
  [[noreturn]] void fail(const std::string& message) const {
    std::cerr << program_ << ": " << message << "\nRun " << program_ << " --help for usage.\n";
    std::exit(2);
  }

 private:
  std::string program_;
  std::string usage_;
  std::set<std::string> known_;
  std::set<std::string> repeatable_;
  std::multimap<std::string, std::string> values_;
};

[[noreturn]] inline void die(const std::string& program, const std::string& message) {
  std::cerr << program << ": " << message << "\n";
  std::exit(1);
}

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

// Builds a conf from (name, value) pairs; later pairs win. "--property k=v" strings are
// split by split_property().
inline rd_kafka_conf_t* make_conf(const std::string& program,
                                  const std::vector<std::pair<std::string, std::string>>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      die(program, "librdkafka property " + k + "=" + v + ": " + errstr);
    }
  }
  return conf;
}

inline std::pair<std::string, std::string> split_property(const Options& opts,
                                                          const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) opts.fail("--property expects NAME=VALUE, got " + kv);
  return {kv.substr(0, eq), kv.substr(eq + 1)};
}

inline Handle make_client(const std::string& program, rd_kafka_type_t type,
                          rd_kafka_conf_t* conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    die(program, std::string("rd_kafka_new: ") + errstr);
  }
  return Handle(rk);
}

// Creates the topic unless it exists. Exits on any other error.
inline void create_topic(const std::string& program, rd_kafka_t* rk, const std::string& topic,
                         int partitions) {
  char errstr[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, errstr,
                                                  sizeof errstr);
  if (nt == nullptr) die(program, std::string("NewTopic: ") + errstr);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, 30000, errstr, sizeof errstr);
  rd_kafka_CreateTopics(rk, &nt, 1, options, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 60000);
  std::string error;
  if (ev == nullptr) {
    error = "no answer to CreateTopics within 60 s";
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error = rd_kafka_event_error_string(ev);
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* s = rd_kafka_topic_result_error_string(results[i]);
        error = s != nullptr ? s : rd_kafka_err2str(e);
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  if (!error.empty()) die(program, "creating topic " + topic + ": " + error);
}

// Partition count of a topic from the cluster's metadata; 0 when it does not exist.
inline int partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return -1;
  }
  int n = 0;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      n = md->topics[i].partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(md);
  return n;
}

// Names of the cluster's topics (internal ones excluded); nullopt when metadata failed.
inline std::optional<std::vector<std::pair<std::string, int>>> list_topics(rd_kafka_t* rk,
                                                                           int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  std::vector<std::pair<std::string, int>> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    std::string name = md->topics[i].topic;
    if (name.rfind("__", 0) == 0 || md->topics[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    out.emplace_back(name, md->topics[i].partition_cnt);
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

// The p-th percentile (0 to 100, nearest rank) of v; sorts v. 0 when v is empty.
inline double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Minimal JSON object writer for one-line summaries.
class JsonLine {
 public:
  JsonLine& add(const std::string& key, const std::string& value) {
    sep();
    out_ << quote(key) << ":" << quote(value);
    return *this;
  }
  JsonLine& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonLine& add(const std::string& key, std::int64_t value) {
    sep();
    out_ << quote(key) << ":" << value;
    return *this;
  }
  JsonLine& add(const std::string& key, int value) {
    return add(key, static_cast<std::int64_t>(value));
  }
  JsonLine& add(const std::string& key, double value) {
    sep();
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", value);
    out_ << quote(key) << ":" << buf;
    return *this;
  }
  JsonLine& add(const std::string& key, bool value) {
    sep();
    out_ << quote(key) << ":" << (value ? "true" : "false");
    return *this;
  }
  JsonLine& raw(const std::string& key, const std::string& json) {
    sep();
    out_ << quote(key) << ":" << json;
    return *this;
  }
  std::string str() const {
    std::string s(1, '{');
    s += out_.str();
    s += '}';
    return s;
  }

  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += c;
          }
      }
    }
    return out + "\"";
  }

 private:
  void sep() {
    if (!first_) out_ << ",";
    first_ = false;
  }
  std::ostringstream out_;
  bool first_ = true;
};

}  // namespace pemx::bench
