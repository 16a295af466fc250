#pragma once
// EventCheck: a stage that decides where events go (the router) offers that decision to other
// stages, so that what one accepts the other routes. The HTTP push asks it for every event
// before producing anything: a 201 then means "acknowledged by Kafka and routable", never
// "accepted here, dead-lettered there".
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pemx/json_tokens.hpp"

namespace pemx {

// Why an event would not be routed.
struct EventRefusal {
  std::string reason;  // the dead-letter reason code (pemx-dlq-reason), e.g. "unknown_event_type"
  std::string detail;  // what is wrong, for the client
  std::string field;   // the event field at fault (dotted path), empty when none
};

// Where the rules in force send an event, with their version: what lineage compares with the
// headers of the messages the router wrote.
struct RouteTrace {
  std::vector<std::string> topics;  // the output topics; empty when dead-lettered
  // The cluster of each topic, parallel to topics: "kafka" (the [kafka] one) or the name of a
  // [clusters.<name>]. Empty: every topic on [kafka].
  std::vector<std::string> clusters;
  std::string reason;               // the dead-letter code, empty when routed
  std::string detail;
  std::string key;                  // the output key (key_field), empty: no key
  std::string rules_version;        // the pemx-rules-version these rules write
  std::string dead_letter_topic;    // where they dead-letter
};

class EventCheck {
 public:
  virtual ~EventCheck() = default;
  // Thread-safe. nullopt when the event (its JSON text, as it would be produced) is routed.
  virtual std::optional<EventRefusal> check(std::string_view event_json) = 0;
  // The same answer, for text the caller has already made sure is valid UTF-8 without a
  // duplicate key at any level (the push's scan): the checker may skip those two checks.
  // Nothing else is taken for granted.
  virtual std::optional<EventRefusal> check_scanned(std::string_view event_json) {
    return check(event_json);
  }
  // The same answer again, for such text with the reader's events for it (`tokens`: the
  // complete events of the one value `event_json` is, strings decoded): the checker may build
  // its document from them instead of parsing the text. Nothing else is taken for granted.
  virtual std::optional<EventRefusal> check_tokens(std::string_view event_json,
                                                   const JsonTokens& tokens) {
    (void)tokens;
    return check_scanned(event_json);
  }
  // Many checks in a row by one caller (one push request's events). A checker may hold what
  // each check needs (a parser and its arena) for the whole series instead of taking it from a
  // shared pool every time: with the push's I/O threads checking at once, that pool's lock was
  // taken twice per event. A series is used by one thread at a time; the EventCheck stays
  // usable by others meanwhile, and the series answers exactly as the calls above would.
  class Series {
   public:
    virtual ~Series() = default;
    virtual std::optional<EventRefusal> check_scanned(std::string_view event_json) = 0;
    virtual std::optional<EventRefusal> check_tokens(std::string_view event_json,
                                                     const JsonTokens& tokens) = 0;
  };
  // Default: each call of the series is a call of this EventCheck.
  virtual std::unique_ptr<Series> series() {
    class Forward final : public Series {
     public:
      explicit Forward(EventCheck& check) : check_(check) {}
      std::optional<EventRefusal> check_scanned(std::string_view event_json) override {
        return check_.check_scanned(event_json);
      }
      std::optional<EventRefusal> check_tokens(std::string_view event_json,
                                               const JsonTokens& tokens) override {
        return check_.check_tokens(event_json, tokens);
      }

     private:
      EventCheck& check_;
    };
    return std::make_unique<Forward>(*this);
  }
  // The full decision of the rules in force for an event, all checks included (not the
  // push's shortcuts). Thread-safe; rare (lineage), so it may be slower than check. nullopt:
  // this checker cannot say.
  virtual std::optional<RouteTrace> trace(std::string_view event_json) {
    (void)event_json;
    return std::nullopt;
  }
};

}  // namespace pemx
