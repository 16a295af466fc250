#include "core/config.hpp"

#include <cctype>
#include <charconv>
#include <filesystem>
#include <functional>
#include <map>

#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <toml++/toml.h>

#include "kafka/client.hpp"
#include "kafka/properties_config.hpp"

namespace pemx {

const StageInstance* Config::stage(const std::string& name) const {
  for (const auto& s : stages) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

namespace {

void merge(toml::table& into, const toml::table& from) {
  for (const auto& [key, value] : from) {
    toml::node* existing = into.get(key);
    if (existing != nullptr && existing->is_table() && value.is_table()) {
      merge(*existing->as_table(), *value.as_table());
    } else {
      into.insert_or_assign(key, value);
    }
  }
}

std::string toml_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// "a.b.c=VALUE": VALUE is read as TOML (numbers, booleans, arrays, quoted strings), and as a
// plain string when it is not valid TOML (so --set kafka.brokers=host:9092 just works).
bool apply_override(toml::table& root, const std::string& text,
                    std::vector<ConfigError>& errors) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    errors.push_back({"--set", text, "expected KEY=VALUE, e.g. --set kafka.brokers=embedded"});
    return false;
  }
  std::string key = text.substr(0, eq);
  std::string value = text.substr(eq + 1);
  for (const std::string& candidate : {key + " = " + value, key + " = " + toml_quote(value)}) {
    try {
      toml::table parsed = toml::parse(std::string_view(candidate), std::string_view("--set"));
      merge(root, parsed);
      return true;
    } catch (const toml::parse_error&) {
    }
  }
  errors.push_back({"--set", key, "cannot read this key; use dotted names such as "
                                  "stages.router.dead_letter_topic or "
                                  "kafka.properties.\"socket.timeout.ms\""});
  return false;
}

// `--set OLD=VALUE` where OLD is a stage key's old name (ConfigAlias): every stage of the
// type whose own key holds what OLD held before this override (given or its default) followed
// OLD, so it gets VALUE too; a stage with a different value of its own keeps it. Without this,
// `--set http.listen=…` on pemx.toml (whose http stage now names its own listen) would be a
// conflict instead of the override it has always been.
void apply_override_following_aliases(toml::table& root, const std::string& text,
                                      const Registry& registry,
                                      std::vector<ConfigError>& errors) {
  const std::string key = text.substr(0, text.find('='));
  std::vector<std::pair<std::string, const ConfigAlias*>> targets;  // stage type, alias
  for (const auto& type : registry.types()) {
    for (const auto& alias : registry.find(type)->aliases) {
      if (alias.old_key == key) targets.emplace_back(type, &alias);
    }
  }
  std::vector<std::string> before;
  for (const auto& [type, alias] : targets) {
    before.push_back(root.at_path(key).value_or(alias->fallback));
  }
  if (!apply_override(root, text, errors) || targets.empty()) return;
  const toml::node* value = root.at_path(key).node();
  toml::table* stages = root["stages"].as_table();
  if (value == nullptr || stages == nullptr) return;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    for (auto& [name, node] : *stages) {
      toml::table* stage = node.as_table();
      if (stage == nullptr || (*stage)["type"].value<std::string>() != targets[i].first) {
        continue;
      }
      const std::string& own_key = targets[i].second->key;
      if ((*stage)[own_key].value<std::string>() == before[i]) {
        stage->insert_or_assign(own_key, *value);
      }
    }
  }
}

void parse_kafka(ConfigSection& s, kafka::KafkaConfig& k) {
  k.brokers = s.string("brokers", k.brokers);
  if (k.brokers.empty()) s.error("brokers", "must not be empty: a broker list or \"embedded\"");
  k.client_id = s.string("client_id", k.client_id);
  k.properties = kafka::read_properties(s);
  if (auto err = kafka::check_properties(k.properties)) s.error("properties", *err);
  for (const auto& [name, value] : k.properties) {
    if (name == "bootstrap.servers" || name == "metadata.broker.list") {
      s.error("properties", "set the brokers with kafka.brokers, not " + name);
    }
  }
  if (auto e = s.table("embedded")) {
    k.embedded.brokers = static_cast<int>(e->integer("brokers", k.embedded.brokers, 1, 5));
    k.embedded.partitions =
        static_cast<int>(e->integer("partitions", k.embedded.partitions, 1, 256));
    k.embedded.topics = e->string_list("topics", {});
    e->reject_unknown();
  }
  s.reject_unknown();
}

bool valid_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  std::string port = listen.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoi(port) <= 65535;
}

// [schemas]: eventType = "file.json", each file relative to the config file's folder (an
// absolute path as it is); every file read and compiled here, so that a missing or broken
// schema stops the start (and check-config) naming its file.
void parse_schemas(ConfigSection& root, CommonConfig& c) {
  auto section = root.table("schemas");
  if (!section) return;
  std::vector<event::SchemaSet::Source> sources;
  for (const auto& [name, value] : *root.node("schemas")->as_table()) {
    const std::string type(name.str());
    auto file = section->optional_string(type);
    if (!file) continue;  // not a string: optional_string said so
    if (file->empty()) {
      section->error(type, "must name a JSON Schema file");
      continue;
    }
    const std::filesystem::path path = root.config_relative(*file);
    std::ifstream in(path);
    std::stringstream text;
    if (in) text << in.rdbuf();
    if (!in || in.bad()) {
      section->error(type, "cannot read \"" + path.string() + "\" (paths are relative to " +
                               "the config file's folder)");
      continue;
    }
    sources.push_back({type, path.string(), text.str()});
  }
  std::vector<std::string> problems;
  c.schemas = event::SchemaSet::compile(sources, problems);
  for (const auto& p : problems) {
    // Each message starts with the file and names its event type: the key it belongs to.
    std::string type;
    for (const auto& s : sources) {
      if (p.rfind(s.file + " (", 0) == 0) type = s.event_type;
    }
    section->error(type, p);
  }
  if (c.schemas->empty()) c.schemas = nullptr;
}

// [clusters.<name>]: the clusters a rule may name besides [kafka] (docs/configuration.md).
// Sorted by name (the TOML table's order), so a cluster's number is the same for every stage.
// A broker address ("host:port", case-insensitive) in both lists; nullopt when none.
std::optional<std::string> shared_broker(const std::string& a, const std::string& b) {
  auto split = [](const std::string& list) {
    std::set<std::string> out;
    std::size_t start = 0;
    while (start <= list.size()) {
      std::size_t end = list.find(',', start);
      if (end == std::string::npos) end = list.size();
      std::string item = list.substr(start, end - start);
      const auto first = item.find_first_not_of(" \t");
      const auto last = item.find_last_not_of(" \t");
      item = first == std::string::npos ? "" : item.substr(first, last - first + 1);
      for (auto& ch : item) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (!item.empty()) out.insert(item);
      start = end + 1;
    }
    return out;
  };
  const auto left = split(a);
  for (const auto& item : split(b)) {
    if (left.count(item) != 0) return item;
  }
  return std::nullopt;
}

void parse_clusters(ConfigSection& root, CommonConfig& c) {
  auto section = root.table("clusters");
  if (!section) return;
  for (const auto& [key, value] : *root.node("clusters")->as_table()) {
    const std::string name(key.str());
    auto s = section->table(name);
    if (!s) continue;  // not a table: table() said so
    if (name == kafka::kMainCluster) {
      s->error_here("\"" + name + "\" names the [kafka] cluster, where every rule without a "
                    "cluster sends; give this cluster another name");
      continue;
    }
    if (name.empty() ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
            std::string::npos) {
      s->error_here("a cluster's name is letters, digits, '_' and '-' (it becomes a metric "
                    "label), e.g. [clusters.eu]");
      continue;
    }
    if (c.clusters.size() == kafka::kMaxClusters) {
      s->error_here("at most " + std::to_string(kafka::kMaxClusters) + " clusters");
      continue;
    }
    kafka::ClusterConfig cluster;
    cluster.name = name;
    cluster.brokers = s->string("brokers", "");
    if (cluster.brokers.empty()) {
      s->error("brokers", "missing: this cluster's bootstrap brokers, e.g. \"eu-kafka:9092\"");
    } else if (cluster.brokers == "embedded") {
      s->error("brokers", "\"embedded\" is only for [kafka]: name the brokers of a real cluster");
    } else if (auto shared = shared_broker(cluster.brokers, c.kafka.brokers)) {
      // The same cluster under another name: a rule could send an event back into the
      // topic it was read from, which the router's loop check (main cluster only) would miss.
      s->error("brokers", "\"" + *shared + "\" is also in kafka.brokers: this is the main "
                          "cluster, where a rule without `cluster` already sends");
    }
    cluster.client_id = s->string("client_id", c.kafka.client_id);
    cluster.properties = kafka::read_properties(*s);
    if (auto err = kafka::check_properties(cluster.properties)) s->error("properties", *err);
    for (const auto& unsafe : kafka::unsafe_producer_properties(
             cluster.properties, c.events.max_bytes + event::kHeaderAllowance)) {
      s->error("properties", unsafe);
    }
    for (const auto& [prop, v] : cluster.properties) {
      if (prop == "bootstrap.servers" || prop == "metadata.broker.list") {
        s->error("properties", "set the brokers with clusters." + name + ".brokers, not " + prop);
      }
    }
    s->reject_unknown();
    c.clusters.push_back(std::move(cluster));
  }
}

void parse_common(ConfigSection& root, CommonConfig& c) {
  if (auto k = root.table("kafka")) parse_kafka(*k, c.kafka);
  if (auto h = root.table("http")) {
    c.http.listen = h->string("listen", c.http.listen);
    if (!valid_listen(c.http.listen)) {
      h->error("listen", "\"" + c.http.listen + "\" is not host:port (e.g. 127.0.0.1:8080)");
    }
    h->reject_unknown();
  }
  if (auto st = root.table("store")) {
    c.store.path = st->string("path", c.store.path);
    if (c.store.path.empty()) st->error("path", "must name a file");
    st->reject_unknown();
  }
  auto ev = root.table("events");
  if (ev) {
    c.events.max_depth = static_cast<std::size_t>(ev->integer(
        "max_depth", static_cast<std::int64_t>(c.events.max_depth), 2, 1000));
    c.events.max_bytes = static_cast<std::size_t>(ev->integer(
        "max_bytes", static_cast<std::int64_t>(c.events.max_bytes), 256, 64 * 1024 * 1024));
    ev->reject_unknown();
  }
  // Whatever the events limit lets through must be producible, or one large event would
  // stop a sink for good: a message of max_bytes plus PEMX's headers fits every producer.
  std::size_t producer_max = 1'000'000;  // librdkafka's default message.max.bytes
  for (const auto& [name, value] : c.kafka.properties) {
    if (name != "message.max.bytes") continue;
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec == std::errc() && end == value.data() + value.size()) producer_max = n;
  }
  if (c.events.max_bytes + event::kHeaderAllowance > producer_max) {
    std::string msg = std::to_string(c.events.max_bytes) + " bytes plus " +
                      std::to_string(event::kHeaderAllowance) +
                      " for PEMX's headers do not fit the producers' message.max.bytes (" +
                      std::to_string(producer_max) + "); lower events.max_bytes or raise " +
                      "kafka.properties.\"message.max.bytes\" (and the topics' max.message.bytes)";
    if (ev) {
      ev->error("max_bytes", msg);
    } else {
      root.error("events", msg);
    }
  }
  parse_clusters(root, c);  // after [events]: its producers must take events.max_bytes too
  parse_schemas(root, c);
  if (auto l = root.table("log")) {
    std::string level = l->string("level", "info");
    if (!parse_log_level(level, c.log_level)) {
      l->error("level", "\"" + level + "\" is not one of debug, info, warn, error, off");
    }
    c.stats_interval = l->duration("stats_interval", c.stats_interval,
                                   std::chrono::seconds(1), std::chrono::hours(24));
    l->reject_unknown();
  }
  if (auto sd = root.table("shutdown")) {
    c.drain_timeout = sd->duration("drain_timeout", c.drain_timeout,
                                   std::chrono::milliseconds(100), std::chrono::hours(1));
    sd->reject_unknown();
  }
}

// An old key (ConfigAlias) given while every stage of its type names its own, different value
// has no effect: both were given and differ, so the user must keep one. A stage that names
// no value of its own, or the same one, uses the old key. With no stage of the type at all the
// old key is unused, as it always was (the dist role's config may keep [http]).
void check_aliases(const toml::table& root, ConfigSection& top, const Registry& registry) {
  const toml::table* stages = root["stages"].as_table();
  for (const auto& type : registry.types()) {
    for (const auto& alias : registry.find(type)->aliases) {
      auto old_value = root.at_path(alias.old_key).value<std::string>();
      if (!old_value || stages == nullptr) continue;
      bool any = false, followed = false;
      std::string own;
      for (const auto& [name, node] : *stages) {
        const toml::table* stage = node.as_table();
        if (stage == nullptr || (*stage)["type"].value<std::string>() != type) continue;
        any = true;
        auto value = (*stage)[alias.key].value<std::string>();
        if (!value || *value == *old_value) {
          followed = true;
          break;
        }
        own += (own.empty() ? "" : ", ") + std::string("stages.") + std::string(name.str()) +
               "." + alias.key + " = \"" + *value + "\"";
      }
      if (!any || followed) continue;
      // The old key's own section, for the error's location and key path.
      auto dot = alias.old_key.rfind('.');
      std::optional<ConfigSection> section = top;
      std::string_view rest(alias.old_key.data(), dot == std::string::npos ? 0 : dot);
      while (section && !rest.empty()) {
        auto next = rest.find('.');
        section = section->table(rest.substr(0, next));
        rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
      }
      if (!section) continue;
      section->error(alias.old_key.substr(dot == std::string::npos ? 0 : dot + 1),
                     "\"" + *old_value + "\" is used by no " + type + " stage: each names its own " +
                         alias.key + " (" + own + "); " + alias.old_key +
                         " is the old name of that key: keep one of the two");
    }
  }
}

// The stages of one pipeline (those joined by queues, directly or not) must agree on the
// delivery mode: an exactly-once ingest needs an exactly-once sink on its acks, and every
// stage in between must forward the transaction markers.
void check_delivery(ConfigSection& roles_section, const std::string& role,
                    const std::vector<std::string>& stage_names, const Config& config) {
  std::map<std::string, std::string> parent;  // union-find over stage names
  std::function<std::string(const std::string&)> find = [&](const std::string& n) {
    auto it = parent.find(n);
    if (it == parent.end() || it->second == n) return n;
    return it->second = find(it->second);
  };
  std::map<std::string, std::string> first_user;  // queue -> a stage using it
  std::vector<const StageInstance*> stages;
  for (const auto& name : stage_names) {
    const StageInstance* st = config.stage(name);
    if (st == nullptr || !st->spec) continue;
    stages.push_back(st);
    parent.emplace(name, name);
    for (const auto& port : st->spec->ports()) {
      auto [it, fresh] = first_user.emplace(port.queue, name);
      if (!fresh) parent[find(name)] = find(it->second);
    }
  }
  std::map<std::string, std::vector<const StageInstance*>> pipelines;
  for (const auto* st : stages) pipelines[find(st->name)].push_back(st);
  for (const auto& [root, members] : pipelines) {
    const StageInstance* exactly = nullptr;
    for (const auto* st : members) {
      if (st->spec->delivery() == DeliveryRole::kExactlyOnce) exactly = st;
    }
    if (exactly == nullptr) continue;
    const std::string eos_key = "stages." + exactly->name + ".delivery = \"exactly_once\"";
    for (const auto* st : members) {
      switch (st->spec->delivery()) {
        case DeliveryRole::kExactlyOnce:
        case DeliveryRole::kForwards:
          break;
        case DeliveryRole::kAtLeastOnce:
          roles_section.error(role, "stages." + st->name + ".delivery is \"at_least_once\" but " +
                                        eos_key + ", and they are one pipeline (joined by "
                                        "queues): set stages." + st->name +
                                        ".delivery = \"exactly_once\" too, or neither");
          break;
        case DeliveryRole::kNone:
          roles_section.error(role, "stage \"" + st->name + "\" (" + st->type +
                                        ") cannot take part in an exactly-once pipeline, and " +
                                        eos_key + " puts it in one (joined by queues); use "
                                        "delivery = \"at_least_once\" there");
          break;
      }
    }
  }
}

// Two stages of one role (one process) must not claim one identity (StageSpec::
// exclusive_ids): the second Kafka static member with a group's id, or the second producer
// with a transactional.id, fences the first, which then exits 1.
void check_exclusive_ids(ConfigSection& roles_section, const std::string& role,
                         const std::vector<std::string>& stage_names, const Config& config) {
  std::map<std::string, std::string> claimed;  // identity -> "stages.<name>.<key>"
  for (const auto& name : stage_names) {
    const StageInstance* st = config.stage(name);
    if (st == nullptr || !st->spec) continue;
    for (const auto& [key, identity] : st->spec->exclusive_ids()) {
      const std::string path = "stages." + name + "." + key;
      auto [it, fresh] = claimed.emplace(identity, path);
      if (fresh) continue;
      roles_section.error(role, it->second + " and " + path + " are both " + identity +
                                    ": in one process they would fence each other (exit 1); "
                                    "give each stage its own");
    }
  }
}

// The other stages each stage's keys name (StageSpec::check_references), as this role builds
// them: in its order, after every stage before it.
void check_references(ConfigSection& roles_section, const std::string& role,
                      const std::vector<std::string>& stage_names, const Config& config) {
  StageNeighbours n;
  for (const auto& st : config.stages) {
    if (st.spec) n.all.push_back({st.name, st.spec.get()});
  }
  for (const auto& name : stage_names) {
    const StageInstance* st = config.stage(name);
    if (st == nullptr || !st->spec) continue;
    for (const auto& p : st->spec->check_references(n)) {
      roles_section.error(role, "stages." + name + "." + p.key + " " + p.message);
    }
    n.before.push_back({name, st->spec.get()});
  }
}

void check_roles(ConfigSection& roles_section, Config& config) {
  for (const auto& [role, stage_names] : config.roles) {
    std::map<std::string, std::vector<std::string>> writers, readers;
    std::set<std::string> seen;
    bool incomplete = false;
    for (const auto& name : stage_names) {
      if (!seen.insert(name).second) {
        roles_section.error(role, "stage \"" + name + "\" is listed twice");
        continue;
      }
      const StageInstance* st = config.stage(name);
      if (st == nullptr) {
        roles_section.error(role, "no stage named \"" + name + "\"; declare [stages." + name +
                                      "] with a type");
        continue;
      }
      if (!st->spec) {  // its own errors are already reported; the graph is unknown
        incomplete = true;
        continue;
      }
      for (const auto& port : st->spec->ports()) {
        if (config.queues.count(port.queue) == 0) {
          roles_section.error(role, "stage \"" + name + "\" uses queue \"" + port.queue +
                                        "\", which is not declared; add [queues." +
                                        port.queue + "] with a capacity");
          continue;
        }
        (port.direction == PortDirection::kIn ? readers : writers)[port.queue].push_back(name);
      }
    }
    if (incomplete) continue;
    std::set<std::string> used;
    for (const auto& [q, w] : writers) used.insert(q);
    for (const auto& [q, r] : readers) used.insert(q);
    for (const auto& q : used) {
      auto nw = writers[q].size(), nr = readers[q].size();
      if (nw == 1 && nr == 1) continue;
      std::string msg = "queue \"" + q + "\" has " + std::to_string(nw) + " writer(s) and " +
                        std::to_string(nr) + " reader(s) in this role; each queue needs " +
                        "exactly one of each (a stage that reads it must be enabled with the " +
                        "stage that writes it)";
      roles_section.error(role, msg);
    }
    check_delivery(roles_section, role, stage_names, config);
    check_exclusive_ids(roles_section, role, stage_names, config);
    check_references(roles_section, role, stage_names, config);
  }
}

void flatten(const toml::table& table, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  for (const auto& [k, v] : table) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* t = v.as_table()) {
      flatten(*t, key, out);
      continue;
    }
    std::ostringstream text;
    v.visit([&text](const auto& node) { text << node; });
    out[key] = text.str();
  }
}

LoadResult load(toml::table root, const std::string& file,
                const std::vector<std::string>& overrides, const Registry& registry) {
  LoadResult result;
  auto& errors = result.errors;
  for (const auto& o : overrides) apply_override_following_aliases(root, o, registry, errors);

  auto config = std::make_unique<Config>();
  config->file = file;
  ConfigSection top(&root, "", file, &errors);
  top.record_ranges(&result.ranges);
  parse_common(top, config->common);

  if (auto roles = top.table("roles")) {
    // Reading every key here: role names are the user's choice.
    for (const auto& [name, value] : *root["roles"].as_table()) {
      config->roles[std::string(name.str())] = roles->string_list(name.str(), {});
    }
  } else {
    top.error_here("missing [roles]: declare at least one role, e.g. dist = [\"ingest\", …]");
  }
  if (auto queues = top.table("queues")) {
    for (const auto& [name, value] : *root["queues"].as_table()) {
      if (auto q = queues->table(name.str())) {
        config->queues[std::string(name.str())] =
            static_cast<std::size_t>(q->integer("capacity", 4096, 2, 1'000'000));
        q->reject_unknown();
      }
    }
  }
  if (auto stages = top.table("stages")) {
    for (const auto& [name, value] : *root["stages"].as_table()) {
      auto section = stages->table(name.str());
      if (!section) continue;
      StageInstance inst;
      inst.name = std::string(name.str());
      auto type = section->optional_string("type");
      if (!type) {
        if (!section->has("type")) section->error_here("missing type = \"<stage type>\"");
        config->stages.push_back(std::move(inst));  // no spec: roles skip it
        continue;
      }
      const StageFactory* factory = registry.find(*type);
      if (factory == nullptr) {
        std::string msg = "unknown stage type \"" + *type + "\"";
        std::string hint = nearest(*type, registry.types());
        msg += hint.empty() ? "" : "; did you mean \"" + hint + "\"?";
        msg += " (compiled in:";
        for (const auto& t : registry.types()) msg += " " + t;
        section->error("type", msg + ")");
        config->stages.push_back(std::move(inst));  // no spec: roles skip it
        continue;
      }
      inst.type = *type;
      inst.spec = factory->parse(*section, config->common);
      section->reject_unknown();
      config->stages.push_back(std::move(inst));
    }
  }
  check_aliases(root, top, registry);
  top.reject_unknown();
  if (auto roles = top.table("roles")) {
    check_roles(*roles, *config);
  }
  flatten(root, "", config->key_texts);
  // A schema file's content is part of the config too: a reload that finds it edited names
  // it among the keys that need a restart (the schemas are compiled at start-up).
  if (const auto& schemas = config->common.schemas) {
    for (const auto& type : schemas->types()) {
      if (const auto* schema = schemas->find(type)) {
        config->key_texts["schemas." + type + " (file content)"] = schema->text();
      }
    }
  }
  if (errors.empty()) result.config = std::move(config);
  return result;
}

}  // namespace

std::optional<std::string> role_problem(const Config& config, const std::string& role) {
  auto it = config.roles.find(role);
  if (it == config.roles.end()) {
    std::string known;
    for (const auto& [name, stages] : config.roles) known += (known.empty() ? "" : ", ") + name;
    return "unknown role \"" + role + "\"; the config defines: " + known;
  }
  if (it->second.empty()) {
    return "role \"" + role + "\" lists no stages; list them in [roles] " + role + " = [...]";
  }
  return std::nullopt;
}

LoadResult load_config_text(const std::string& text, const std::string& file_name,
                            const std::vector<std::string>& overrides,
                            const Registry& registry) {
  try {
    return load(toml::parse(std::string_view(text), std::string_view(file_name)), file_name, overrides, registry);
  } catch (const toml::parse_error& e) {
    LoadResult r;
    r.errors.push_back({file_name + ":" + std::to_string(e.source().begin.line), "",
                        "TOML syntax error: " + std::string(e.description())});
    return r;
  }
}

LoadResult load_config(const std::string& file, const std::vector<std::string>& overrides,
                       const Registry& registry) {
  std::ifstream in(file);
  if (!in) {
    LoadResult r;
    r.errors.push_back({file, "", "cannot read the config file; pass --config FILE"});
    return r;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return load_config_text(buf.str(), file, overrides, registry);
}

}  // namespace pemx
