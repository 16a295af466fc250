#pragma once
// The routing core: a pure function from an event's bytes to a decision, with no IO and no
// threads. The stage, `pemx route` and the tests all call Router::route.
//
// Rules are evaluated in order and every matching rule contributes its topic, so one event
// can go to its type topic and to the storage topic. An event is delivered whole or
// dead-lettered whole: if any matching rule cannot render a legal, allowed topic, the event
// goes to the dead-letter topic and to nothing else.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "event/event.hpp"
#include "event/reasons.hpp"
#include "event/schema.hpp"
#include "event/validate.hpp"

namespace pemx::rules_router {

// Dead-letter reasons: stable codes, carried in the pemx-dlq-reason header. Those the stores
// give too are defined once, in event/reasons.hpp; the rest are the router's own.
inline constexpr std::string_view kInvalidJson = event::kReasonInvalidJson;
inline constexpr std::string_view kTooDeep = event::kReasonTooDeep;
inline constexpr std::string_view kTooLarge = event::kReasonTooLarge;
inline constexpr std::string_view kDuplicateKey = event::kReasonDuplicateKey;
inline constexpr std::string_view kInvalidEvent = event::kReasonInvalidEvent;
inline constexpr std::string_view kUnknownEventType = "unknown_event_type";
inline constexpr std::string_view kNoMatchingRule = "no_matching_rule";
inline constexpr std::string_view kMissingPlaceholder = "missing_placeholder";
inline constexpr std::string_view kIllegalTopic = "illegal_topic";
inline constexpr std::string_view kTopicNotAllowed = "topic_not_allowed";
// A rule would send the event back into the topic it was read from, or into the dead-letter
// topic: an endless loop (or a dead letter without its reason), never routed.
inline constexpr std::string_view kTopicLoop = "topic_loop";
inline constexpr std::string_view kSchema = event::kReasonSchema;  // schema_mode = "strict"

// schema_mode: kStrict dead-letters an event that fails its eventType's schema ([schemas]);
// kOff (the default, what the reference did) does not look at the schemas.
enum class SchemaMode { kOff, kStrict };

struct Condition {
  enum class Kind { kAny, kEquals, kIn, kExists, kAbsent };
  Kind kind = Kind::kAny;
  std::string field;                // dotted path
  std::vector<std::string> values;  // kEquals: one; kIn: several
};

// "country-{data.country}" as literal and placeholder pieces.
struct TopicTemplate {
  struct Piece {
    bool placeholder = false;
    std::string text;  // literal text, or the placeholder's dotted path
  };
  std::string source;
  std::vector<Piece> pieces;
  // Parses; an error text when malformed (unbalanced braces, empty placeholder).
  static std::optional<std::string> parse(std::string_view text, TopicTemplate& out);
  std::vector<std::string> placeholders() const;
};

struct Rule {
  std::string name;
  std::vector<Condition> when;  // all must hold; empty means any event
  TopicTemplate topic;
  std::map<std::string, std::string> defaults;               // placeholder -> value if missing
  std::map<std::string, std::set<std::string, std::less<>>> allowed;  // placeholder -> values
  // The [clusters.<name>] its topic is on; empty: the main [kafka] cluster.
  std::string cluster;
};

struct RoutingConfig {
  std::vector<Rule> rules;
  // The reference push's field rules (event/validate.hpp) on consumed events: kReport routes
  // a failing event and names the failing fields in Decision::invalid (the reference routed
  // them); kStrict dead-letters it as invalid_event; kOff does not check.
  event::ValidationMode validation = event::ValidationMode::kReport;
  std::vector<std::string> event_types;  // declared types; empty: any type is accepted
  std::string key_field = "productId";   // output key
  event::JsonLimits limits;              // nesting depth and size of one event ([events])
  SchemaMode schema_mode = SchemaMode::kOff;
  std::shared_ptr<const event::SchemaSet> schemas;  // [schemas]; null: none
  // The names of [clusters.*] as the process started with them: a rule's cluster is number
  // (its position here + 1) in Decision::clusters; 0 is [kafka]. A reload keeps the running
  // table (its clusters' producers exist), so the numbers never move under a running sink.
  std::vector<std::string> clusters;
};

// The number of cluster `name` in `table` (RoutingConfig::clusters): 0 for "" (the main
// cluster), position + 1 for a named one, -1 when the table lacks it.
int cluster_number(const std::vector<std::string>& table, std::string_view name);

struct Decision {
  std::vector<std::string> topics;  // empty when dead-lettered
  // The cluster of each topic (cluster_number), parallel to topics; empty when every topic is
  // on the main cluster (always so when no rule names a cluster: the common path pays nothing).
  std::vector<std::uint8_t> clusters;
  std::string reason;               // dead-letter code, empty when routed
  std::string detail;               // for the operator
  std::string field;                // the event field at fault (dotted path), when there is one
  std::string key;                  // output key (productId), may be empty when dead-lettered
  std::string event_id;
  std::string event_type;
  // kReport: the fields (event::kValidatedFields) whose rule the event fails, in that order;
  // meaningful only when the event is routed.
  std::vector<std::string> invalid;
  bool dead_letter() const { return !reason.empty(); }
};

// The productId a dead letter is listed under (the overview's latest dead letters): the
// event's own (Decision::key, read from the key field before any rule ran, so also for
// illegal_topic or missing_placeholder), else the message's Kafka key (an event that is not
// JSON has no fields). The message key alone left it empty for a keyless message.
inline std::string_view dead_letter_product_id(const Decision& d, std::string_view message_key) {
  return d.key.empty() ? message_key : std::string_view(d.key);
}

// The eventId and eventType are copied into the pemx-event-id / pemx-event-type headers only
// up to this size: a UUID is 36 bytes, and an absurd id (which report mode routes, as the
// reference did) must not double the message it rides on.
inline constexpr std::size_t kMaxIdHeaderBytes = 1024;
inline bool fits_id_header(std::string_view value) {
  return !value.empty() && value.size() <= kMaxIdHeaderBytes;
}

// Checks a config for rules that cannot work; one message per problem (a rule naming a
// cluster the table lacks among them).
std::vector<std::string> check_routing(const RoutingConfig& config);

// What a routing config can send to: the target check at start-up (and on reload) compares
// it with the cluster's topics (core/target_check.hpp).
struct PossibleTopics {
  // Every topic a rule on the main cluster can render: a fixed topic, or every combination of
  // the allowed values of its placeholders (a name that would not be a legal topic is left
  // out: the router dead-letters such an event instead). Sorted, no duplicates.
  std::vector<std::string> topics;
  // The same for the rules that name a cluster, by cluster name (an entry for every cluster a
  // rule names, even when none of its topics can be known).
  std::map<std::string, std::vector<std::string>> cluster_topics;
  // Rules whose topic takes a placeholder with no `allowed` values (a free event field): what
  // they render cannot be known before the events come. One line per rule, for the log.
  std::vector<std::string> unchecked;
};
// At most this many topics are rendered from all the rules' allowed values together (memory
// and start-up time stay small whatever the config); a rule whose combinations would take the
// total past it is listed in `unchecked` instead (a fixed topic is always checked) (a product of large allowed lists is not a
// list of real topics).
inline constexpr std::size_t kMaxRenderedTopics = 10000;
// Pure: no IO.
PossibleTopics possible_topics(const RoutingConfig& config,
                               std::size_t max_topics = kMaxRenderedTopics);

// The rules' version (pemx-rules-version, /api/info, /metrics): a canonical JSON text of what
// decides where an event goes (rules in order, event types, key field, validation and the
// dead-letter topic; not the limits, which need a restart), so the same rules give the same
// text whatever the TOML's layout, comments or key order. Pure.
std::string canonical_rules(const RoutingConfig& config, std::string_view dead_letter_topic);
// 16 hex digits: 64-bit FNV-1a of canonical_rules (a label, not a security property).
std::string rules_version(std::string_view canonical);

// Thread-compatible: one Router per thread (it owns a parse arena).
class Router {
 public:
  explicit Router(RoutingConfig config);
  Decision route(std::string_view value);
  // Into an existing decision (reuses its vectors; the stage's hot path). checks: what the
  // caller already made sure of (event::TextChecks; the push's check passes kScanned).
  void route(std::string_view value, Decision& out,
             event::TextChecks checks = event::TextChecks::kAll);
  // The same decision for text the caller read already (the push's scan: TextChecks::kScanned
  // holds), built from the reader's events for it (EventCheck::check_tokens) instead of a
  // second parse.
  void route(std::string_view value, const JsonTokens& tokens, Decision& out);
  const RoutingConfig& config() const { return config_; }

 private:
  // The decision for the event just parsed or rebuilt into event_ (`error`: how that failed).
  void decide(std::string_view value, event::JsonError error, Decision& out);
  bool matches(const Rule& rule) const;
  // Renders a rule's topic; false with reason/detail set when it cannot.
  bool render(const Rule& rule, std::string& topic, Decision& out) const;

  RoutingConfig config_;
  // The cluster number of each rule (cluster_number), when a rule names a cluster; else empty.
  std::vector<std::uint8_t> rule_clusters_;
  // The schemas to apply: config_.schemas in strict mode, else null (no lookup at all).
  const event::SchemaSet* schemas_ = nullptr;
  std::set<std::string, std::less<>> event_types_;
  event::ParsedEvent event_;
};

}  // namespace pemx::rules_router
