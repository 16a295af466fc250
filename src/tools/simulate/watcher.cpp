#include "tools/simulate/watcher.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>

#include <rapidjson/document.h>

#include "kafka/factory.hpp"

namespace pemx::sim {

namespace {
constexpr int kTimeoutMs = 10'000;  // metadata and watermark requests
constexpr char kEventIdHeader[] = "pemx-event-id";

// The event id of a routed message: PEMX's header, else the value's eventId field.
std::optional<std::string_view> event_id_of(const rd_kafka_message_t* m, rapidjson::Document& doc) {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const void* value = nullptr;
    std::size_t size = 0;
    if (rd_kafka_header_get_last(headers, kEventIdHeader, &value, &size) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        value != nullptr) {
      return std::string_view(static_cast<const char*>(value), size);
    }
  }
  doc.Parse(static_cast<const char*>(m->payload), m->len);
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  auto it = doc.FindMember("eventId");
  if (it == doc.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string_view(it->value.GetString(), it->value.GetStringLength());
}
}  // namespace

Result<std::unique_ptr<Watcher>> Watcher::create(const kafka::KafkaConfig& kafka,
                                                 const std::string& brokers,
                                                 const std::string& group_id,
                                                 OnMessage on_message,
                                                 kafka::ClientLog log) {
  kafka::ConsumerSettings settings;
  settings.kafka = kafka;
  settings.kafka.brokers = brokers;
  // group.id only because librdkafka's consumer API needs one: no group is joined (assign, not
  // subscribe) and nothing is committed.
  settings.properties = {{"group.id", group_id},
                         {"enable.auto.commit", "false"},
                         {"enable.auto.offset.store", "false"},
                         {"allow.auto.create.topics", "false"},
                         {"auto.offset.reset", "earliest"},
                         {"enable.partition.eof", "false"}};
  // A tool's thread: nobody to report a failure to, so it is logged and the process aborts.
  ThreadOwner owner{log.name, log.log, nullptr};
  settings.log = std::move(log);
  auto client = kafka::make_consumer(std::move(settings));
  if (!client) return client.error();
  std::unique_ptr<Watcher> w(new Watcher(std::move(on_message), std::move(owner)));
  w->consumer_ = std::move(client.value());
  if (auto problem =
          kafka::wait_for_cluster(w->consumer_.get(), std::chrono::milliseconds(kTimeoutMs))) {
    return Error{"kafka_unreachable", "the Kafka cluster at " + brokers + " did not answer: " +
                                          *problem + "; check kafka.brokers or pass --brokers"};
  }
  w->worker_.start([raw = w.get()](std::stop_token st) { raw->run(st); });
  return w;
}

Watcher::~Watcher() { stop(); }

void Watcher::stop() noexcept { worker_.stop(); }

Result<std::map<std::string, int>> Watcher::partitions(const std::vector<std::string>& topics) {
  // One request for the whole cluster's topics: asking per topic costs a round of librdkafka's
  // metadata timers each (about half a second), and start-up waits for it.
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(consumer_.get(), 1, nullptr, &raw, kTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Error{"metadata", std::string("cluster metadata: ") + rd_kafka_err2str(err)};
  }
  kafka::MetadataPtr md(raw);
  std::map<std::string, int> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR || t.partition_cnt == 0) continue;
    if (std::find(topics.begin(), topics.end(), t.topic) != topics.end()) {
      out[t.topic] = t.partition_cnt;
    }
  }
  return out;
}

std::optional<std::string> Watcher::assign(const std::map<std::string, int>& topics,
                                           bool from_end) {
  if (topics.empty()) return std::nullopt;
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(0));
  for (const auto& [topic, count] : topics) {
    for (int p = 0; p < count; ++p) {
      // With from_end: the timestamp -1 (latest), which offsets_for_times turns into the end.
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
          from_end ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  if (from_end) {
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(consumer_.get(), list.get(), kTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::string("where the watched topics end: ") + rd_kafka_err2str(err);
    }
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR || tp.offset < 0) {
        return "where " + std::string(tp.topic) + "[" + std::to_string(tp.partition) +
               "] ends: " + rd_kafka_err2str(tp.err);
      }
    }
  }
  kafka::ErrorPtr error(
      rd_kafka_incremental_assign(consumer_.get(), list.get()));
  if (error)
    return std::string("assigning the watched topics: ") + rd_kafka_error_string(error.get());
  return std::nullopt;
}

std::optional<std::string> Watcher::watch(const std::vector<std::string>& topics) {
  std::vector<std::string> fresh;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& t : topics) {
      if (watched_.insert(t).second) fresh.push_back(t);
    }
  }
  if (fresh.empty()) return std::nullopt;
  auto existing = partitions(fresh);
  if (!existing) return existing.error().message;
  if (auto err = assign(existing.value(), true)) return err;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& t : fresh) {  // not created yet: from its beginning once it exists
    if (existing.value().count(t) == 0) pending_.push_back(t);
  }
  return std::nullopt;
}

void Watcher::check_pending() {
  std::vector<std::string> pending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pending_.empty()) return;
    pending = pending_;
  }
  auto created = partitions(pending);
  if (!created || created.value().empty() || assign(created.value(), false)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(pending_, [&](const std::string& t) { return created.value().count(t) != 0; });
}

std::string Watcher::first_error() {
  std::lock_guard<std::mutex> lock(mutex_);
  return first_error_;
}

void Watcher::run(std::stop_token st) {
  rapidjson::Document doc;
  auto next_check = std::chrono::steady_clock::now();
  while (!st.stop_requested()) {
    if (std::chrono::steady_clock::now() >= next_check) {
      check_pending();
      next_check = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    }
    kafka::MessagePtr m(
        rd_kafka_consumer_poll(consumer_.get(), 100));
    if (!m) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {  // counted for the summary; librdkafka retries
      if (errors_.fetch_add(1) == 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        first_error_ = rd_kafka_message_errstr(m.get());
        if (m->rkt != nullptr)
          first_error_ += std::string(" (") + rd_kafka_topic_name(m->rkt) + ")";
      }
      continue;
    }
    std::string topic = rd_kafka_topic_name(m->rkt);
    auto id = event_id_of(m.get(), doc);
    if (!id) {
      without_id_.fetch_add(1);
      continue;
    }
    on_message_(topic, *id);
  }
}

}  // namespace pemx::sim
