#include "rules_router/routing.hpp"

#include <algorithm>
#include <cstdint>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/check.hpp"
#include "kafka/topic_name.hpp"

namespace pemx::rules_router {

std::optional<std::string> TopicTemplate::parse(std::string_view text, TopicTemplate& out) {
  out = TopicTemplate{};
  out.source = std::string(text);
  std::string literal;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '}') return "unbalanced '}' at position " + std::to_string(i);
    if (c != '{') {
      literal += c;
      continue;
    }
    auto close = text.find('}', i);
    if (close == std::string_view::npos) return "unclosed '{' at position " + std::to_string(i);
    std::string_view path = text.substr(i + 1, close - i - 1);
    if (path.empty()) return "empty placeholder {} at position " + std::to_string(i);
    if (path.find('{') != std::string_view::npos) return "nested '{' in a placeholder";
    if (path.front() == '.' || path.back() == '.' || path.find("..") != std::string_view::npos) {
      return "placeholder {" + std::string(path) + "} is not a dotted field path";
    }
    if (!literal.empty()) out.pieces.push_back({false, std::move(literal)});
    literal.clear();
    out.pieces.push_back({true, std::string(path)});
    i = close;
  }
  if (!literal.empty()) out.pieces.push_back({false, std::move(literal)});
  if (out.pieces.empty()) return "topic is empty";
  return std::nullopt;
}

std::vector<std::string> TopicTemplate::placeholders() const {
  std::vector<std::string> out;
  for (const auto& p : pieces) {
    if (p.placeholder) out.push_back(p.text);
  }
  return out;
}

int cluster_number(const std::vector<std::string>& table, std::string_view name) {
  if (name.empty()) return 0;
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (table[i] == name) return static_cast<int>(i + 1);
  }
  return -1;
}

std::vector<std::string> check_routing(const RoutingConfig& config) {
  std::vector<std::string> problems;
  if (config.rules.empty()) problems.push_back("no rules: every event would be dead-lettered");
  std::set<std::string> types(config.event_types.begin(), config.event_types.end());
  for (const auto& rule : config.rules) {
    std::string who = "rule \"" + rule.name + "\": ";
    if (cluster_number(config.clusters, rule.cluster) < 0) {
      std::string declared;
      for (const auto& c : config.clusters) declared += (declared.empty() ? "" : ", ") + c;
      problems.push_back(who + "cluster \"" + rule.cluster + "\" is not declared; add [clusters." +
                         rule.cluster + "] with its brokers, or name one of: " +
                         (declared.empty() ? std::string("(none declared)") : declared) +
                         " (no cluster: the [kafka] one)");
    }
    auto placeholders = rule.topic.placeholders();
    std::set<std::string> ph(placeholders.begin(), placeholders.end());
    // Literal parts must be legal on their own, or no rendering can be.
    std::string literal_only;
    for (const auto& p : rule.topic.pieces) literal_only += p.placeholder ? "x" : p.text;
    if (auto problem = kafka::topic_name_problem(literal_only)) {
      problems.push_back(who + "topic \"" + rule.topic.source + "\" can never be legal: " + *problem);
    }
    for (const auto& [path, value] : rule.defaults) {
      if (ph.count(path) == 0) {
        problems.push_back(who + "default for \"" + path + "\", which is not a placeholder of \"" +
                           rule.topic.source + "\"");
      }
    }
    for (const auto& [path, values] : rule.allowed) {
      if (ph.count(path) == 0) {
        problems.push_back(who + "allowed values for \"" + path +
                           "\", which is not a placeholder of \"" + rule.topic.source + "\"");
      }
      if (values.empty()) problems.push_back(who + "allowed values for \"" + path + "\" are empty");
      auto def = rule.defaults.find(path);
      if (def != rule.defaults.end() && values.count(def->second) == 0) {
        problems.push_back(who + "default \"" + def->second + "\" for \"" + path +
                           "\" is not among its allowed values");
      }
    }
    for (const auto& c : rule.when) {
      if ((c.kind == Condition::Kind::kEquals || c.kind == Condition::Kind::kIn) &&
          c.values.empty()) {
        problems.push_back(who + "condition on " + c.field + " lists no values");
        continue;
      }
      if (c.field == "eventType" && !types.empty() &&
          (c.kind == Condition::Kind::kEquals || c.kind == Condition::Kind::kIn)) {
        bool any = false;
        for (const auto& v : c.values) any = any || types.count(v) != 0;
        if (!any) {
          problems.push_back(who + "can never match: eventType " + c.values.front() +
                             " is not in event_types");
        }
      }
    }
  }
  return problems;
}

PossibleTopics possible_topics(const RoutingConfig& config, std::size_t max_topics) {
  PossibleTopics out;
  std::set<std::string> topics;
  std::map<std::string, std::set<std::string>> cluster_topics;
  std::size_t rendered_so_far = 0;  // by all rules: the budget of max_topics
  for (const auto& rule : config.rules) {
    const std::size_t max_per_rule =
        rendered_so_far >= max_topics ? 0 : max_topics - rendered_so_far;
    std::vector<std::string> free;  // placeholders without allowed values
    std::size_t combinations = 1;
    for (const auto& path : rule.topic.placeholders()) {
      auto allowed = rule.allowed.find(path);
      if (allowed == rule.allowed.end() || allowed->second.empty()) {
        free.push_back(path);
      } else {
        combinations = std::min(combinations * allowed->second.size(), max_per_rule + 1);
      }
    }
    std::string who = "rule \"" + rule.name + "\" (topic \"" + rule.topic.source + "\"" +
                      (rule.cluster.empty() ? "" : ", cluster " + rule.cluster) + ")";
    std::set<std::string>& into = rule.cluster.empty() ? topics : cluster_topics[rule.cluster];
    if (!free.empty()) {
      std::string fields;
      for (const auto& f : free) fields += (fields.empty() ? "{" : ", {") + f + "}";
      out.unchecked.push_back(who + ": " + fields + " taken from the event, no allowed values");
      continue;
    }
    const bool fixed = rule.topic.placeholders().empty();  // always checked
    if (combinations > max_per_rule && !fixed) {
      out.unchecked.push_back(
          who + ": more combinations of allowed values than the " +
          std::to_string(max_per_rule) + " topics left of the " + std::to_string(max_topics) +
          " checked in all");
      continue;
    }
    rendered_so_far += combinations;
    // Renders piece by piece: each placeholder multiplies the prefixes by its allowed values.
    std::vector<std::string> rendered = {""};
    for (const auto& piece : rule.topic.pieces) {
      if (!piece.placeholder) {
        for (auto& r : rendered) r += piece.text;
        continue;
      }
      std::vector<std::string> next;
      for (const auto& r : rendered) {
        for (const auto& v : rule.allowed.at(piece.text)) next.push_back(r + v);
      }
      rendered = std::move(next);
    }
    for (auto& r : rendered) {
      if (!kafka::topic_name_problem(r)) into.insert(std::move(r));
    }
  }
  out.topics.assign(topics.begin(), topics.end());
  for (auto& [cluster, names] : cluster_topics) {
    out.cluster_topics[cluster].assign(names.begin(), names.end());
  }
  return out;
}

Router::Router(RoutingConfig config)
    : config_(std::move(config)),
      schemas_(config_.schema_mode == SchemaMode::kStrict ? config_.schemas.get() : nullptr),
      event_types_(config_.event_types.begin(), config_.event_types.end()),
      event_(config_.limits) {
  bool any = false;
  for (const auto& rule : config_.rules) any = any || !rule.cluster.empty();
  if (!any) return;
  for (const auto& rule : config_.rules) {
    const int n = cluster_number(config_.clusters, rule.cluster);
    PEMX_CHECK(n >= 0, "a rule's cluster is declared (the loader and the reload refuse others)");
    rule_clusters_.push_back(static_cast<std::uint8_t>(n));
  }
}

Decision Router::route(std::string_view value) {
  Decision d;
  route(value, d);
  return d;
}

bool Router::matches(const Rule& rule) const {
  for (const auto& c : rule.when) {
    if (c.kind == Condition::Kind::kAny) continue;
    const rapidjson::Value* v = event_.find(c.field);
    bool present = v != nullptr && !v->IsNull();
    switch (c.kind) {
      case Condition::Kind::kExists:
        if (!present) return false;
        break;
      case Condition::Kind::kAbsent:
        if (present) return false;
        break;
      case Condition::Kind::kEquals:
      case Condition::Kind::kIn: {
        if (!present) return false;
        event::ScalarBuffer buffer;
        auto text = event::scalar_view(*v, buffer);  // no copy: this runs for every event
        if (!text) return false;
        bool any = false;
        for (const auto& want : c.values) any = any || *text == want;
        if (!any) return false;
        break;
      }
      default: break;
    }
  }
  return true;
}

bool Router::render(const Rule& rule, std::string& topic, Decision& out) const {
  topic.clear();
  for (const auto& piece : rule.topic.pieces) {
    if (!piece.placeholder) {
      topic += piece.text;
      continue;
    }
    const rapidjson::Value* v = event_.find(piece.text);
    event::ScalarBuffer buffer;
    std::optional<std::string_view> text;  // no copy: appended to the topic in place
    if (v != nullptr) text = event::scalar_view(*v, buffer);
    if (!text) {
      // A default stands in for a missing, null or empty field only: a value of another type
      // (true, 1.5, an object) is the sender's mistake, not an absence.
      bool absent = v == nullptr || v->IsNull() || (v->IsString() && v->GetStringLength() == 0);
      auto def = absent ? rule.defaults.find(piece.text) : rule.defaults.end();
      if (def == rule.defaults.end()) {
        out.reason = kMissingPlaceholder;
        out.field = piece.text;
        out.detail = "rule \"" + rule.name + "\": {" + piece.text + "} " +
                     (v == nullptr ? std::string("is missing")
                                   : "is not a non-empty string or integer: " +
                                         event::json_excerpt(*v));
        return false;
      }
      text = def->second;
    }
    auto allowed = rule.allowed.find(piece.text);
    if (allowed != rule.allowed.end() && allowed->second.count(*text) == 0) {
      out.reason = kTopicNotAllowed;
      out.field = piece.text;
      out.detail = "rule \"" + rule.name + "\": {" + piece.text + "} = \"" +
                   event::excerpt(*text) + "\" is not an allowed value";
      return false;
    }
    topic += *text;
  }
  if (auto problem = kafka::topic_name_problem(topic)) {
    out.reason = kIllegalTopic;
    if (auto ph = rule.topic.placeholders(); ph.size() == 1) out.field = ph.front();
    out.detail = "rule \"" + rule.name + "\": \"" + event::excerpt(topic, 120) + "\": " + *problem;
    return false;
  }
  return true;
}

void Router::route(std::string_view value, Decision& out, event::TextChecks checks) {
  decide(value, event_.parse(value, checks), out);
}

void Router::route(std::string_view value, const JsonTokens& tokens, Decision& out) {
  decide(value, event_.replay(value, tokens), out);
}

void Router::decide(std::string_view value, event::JsonError error, Decision& out) {
  std::size_t topics = 0;  // filled in place: the strings keep their capacity across events
  out.reason.clear();
  out.detail.clear();
  out.key.clear();
  out.event_id.clear();
  out.event_type.clear();
  out.field.clear();
  out.clusters.clear();

  if (error) {
    out.reason = event::reason_code(error.problem);
    out.detail = std::move(error.detail);
    out.topics.clear();
    return;
  }
  if (auto id = event_.string_at("eventId")) out.event_id = *id;
  if (auto type = event_.string_at("eventType")) out.event_type = *type;
  if (auto key = event_.string_at(config_.key_field)) out.key = *key;

  out.invalid.clear();
  if (config_.validation != event::ValidationMode::kOff) {
    auto errors = event::validate_event(event_.root());
    if (!errors.empty() && config_.validation == event::ValidationMode::kReport) {
      for (auto& e : errors) out.invalid.push_back(std::move(e.field));
    } else if (!errors.empty()) {
      out.reason = kInvalidEvent;
      out.field = errors.front().field;
      for (const auto& e : errors) {
        out.detail += (out.detail.empty() ? "" : "; ") + e.field + ": " + e.msg;
      }
      out.topics.clear();
      return;
    }
  }
  if (!event_types_.empty() && event_types_.count(out.event_type) == 0) {
    out.reason = kUnknownEventType;
    out.field = "eventType";
    out.detail = "eventType \"" + event::excerpt(out.event_type) +
                 "\" is not declared in event_types";
    out.topics.clear();
    return;
  }
  // schema_mode = "strict": one lookup by eventType; only a type with a schema is validated
  // (a walk over the parsed event, no second parse).
  if (schemas_ != nullptr) {
    if (const event::Schema* schema = schemas_->find(out.event_type)) {
      if (auto failure = schema->validate(event_.root())) {
        out.reason = kSchema;
        out.detail = failure->describe() + " (the schema of " + schema->event_type() + ", " +
                     failure->keyword + ")";
        out.topics.clear();
        return;
      }
    }
  }
  const bool clustered = !rule_clusters_.empty();
  for (std::size_t r = 0; r < config_.rules.size(); ++r) {
    const Rule& rule = config_.rules[r];
    if (!matches(rule)) continue;
    if (topics == out.topics.size()) out.topics.emplace_back();
    if (!render(rule, out.topics[topics], out)) {
      out.topics.clear();
      out.clusters.clear();
      return;
    }
    // The same topic on another cluster is another output.
    bool duplicate = false;
    for (std::size_t i = 0; i < topics; ++i) {
      duplicate = duplicate || (out.topics[i] == out.topics[topics] &&
                                (!clustered || out.clusters[i] == rule_clusters_[r]));
    }
    if (duplicate) continue;
    if (clustered) out.clusters.push_back(rule_clusters_[r]);
    ++topics;
  }
  out.topics.resize(topics);
  // Only main-cluster outputs: no numbers at all, as when no rule names a cluster.
  if (clustered && std::all_of(out.clusters.begin(), out.clusters.end(),
                               [](std::uint8_t c) { return c == 0; })) {
    out.clusters.clear();
  }
  if (out.topics.empty()) {
    out.reason = kNoMatchingRule;
    out.detail = "no rule matches this event";
    return;
  }
  // Each output carries the event, its key and its type and id as headers (when they fit a
  // header): all of it must fit, or the sink could never produce it.
  const std::size_t output =
      value.size() + out.key.size() +
      (fits_id_header(out.event_type) ? out.event_type.size() : 0) +
      (fits_id_header(out.event_id) ? out.event_id.size() : 0);
  if (output > config_.limits.max_bytes) {
    out.reason = kTooLarge;
    out.detail = "each routed message would be " + std::to_string(output) +
                 " bytes (event, key and headers); at most " +
                 std::to_string(config_.limits.max_bytes) + " are accepted";
    out.topics.clear();
    out.clusters.clear();
  }
}

std::string canonical_rules(const RoutingConfig& config, std::string_view dead_letter_topic) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&w](std::string_view v) {
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartObject();
  w.Key("validation");
  str(event::validation_mode_name(config.validation));
  w.Key("eventTypes");
  w.StartArray();
  for (const auto& t : config.event_types) str(t);
  w.EndArray();
  w.Key("keyField");
  str(config.key_field);
  w.Key("deadLetterTopic");
  str(dead_letter_topic);
  w.Key("rules");
  w.StartArray();
  for (const auto& rule : config.rules) {
    w.StartObject();
    w.Key("name");
    str(rule.name);
    w.Key("when");
    w.StartArray();
    for (const auto& c : rule.when) {
      w.StartArray();
      w.Int(static_cast<int>(c.kind));
      str(c.field);
      for (const auto& v : c.values) str(v);
      w.EndArray();
    }
    w.EndArray();
    w.Key("topic");
    str(rule.topic.source);
    w.Key("defaults");
    w.StartObject();
    for (const auto& [k, v] : rule.defaults) {
      w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
      str(v);
    }
    w.EndObject();
    w.Key("allowed");
    w.StartObject();
    for (const auto& [k, values] : rule.allowed) {
      w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
      w.StartArray();
      for (const auto& v : values) str(v);
      w.EndArray();
    }
    w.EndObject();
    if (!rule.cluster.empty()) {  // absent for the main cluster: older versions stay the same
      w.Key("cluster");
      str(rule.cluster);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string rules_version(std::string_view canonical) {
  std::uint64_t h = 14695981039346656037ULL;  // FNV-1a 64 offset basis
  for (unsigned char c : canonical) {
    h ^= c;
    h *= 1099511628211ULL;  // FNV-1a 64 prime
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = kHex[h & 0xF];
  return out;
}

}  // namespace pemx::rules_router
