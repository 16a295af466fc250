#include "store/dead_letter.hpp"

#include <librdkafka/rdkafka.h>

#include <stdexcept>

#include "kafka/factory.hpp"

namespace pemx::store {

DeadLetterProducer::DeadLetterProducer(DeadLetterOptions options, Logger log,
                                       std::function<void(const std::string&)> fatal,
                                       Counter& retries)
    : options_(std::move(options)),
      log_(std::move(log)),
      fatal_(std::move(fatal)),
      retries_(retries),
      backoff_(options_.retry) {
  kafka::ProducerSettings p;
  p.kafka = options_.kafka;
  p.properties = options_.properties;
  p.min_message_bytes = options_.min_message_bytes;
  p.opaque = this;
  p.on_delivery = &DeadLetterProducer::on_delivery;
  p.errors = kafka::ErrorPolicy{"dead-letter producer", fatal_, {}};
  p.log = {log_, options_.name, options_.readiness, true, fatal_};
  auto client = kafka::make_producer(std::move(p));
  if (!client) {
    throw std::runtime_error(options_.stage_type + " dead-letter producer: " +
                             client.error().message);
  }
  producer_ = std::move(client.value());
}

DeadLetterProducer::~DeadLetterProducer() {
  // Runs after the worker thread has stopped. Reports for purged messages free their records
  // (closing_: no retry); none of them is acknowledged, so all are redelivered.
  closing_ = true;
  if (std::size_t dropped = in_flight_ - done_.size(); dropped > 0) {
    log_.warn("dead-letter records dropped unacknowledged at shutdown; they will be redelivered",
              {{"records", static_cast<std::int64_t>(dropped)}});
  }
  if (producer_) {
    rd_kafka_resp_err_t err =
        rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log_.warn("dead-letter producer purge", {{"error", rd_kafka_err2str(err)}});
    }
    // Serves the purge reports. Whatever has no report by then is left to librdkafka's
    // teardown (a small leak at exit, never an acknowledgement).
    err = rd_kafka_flush(producer_.get(), 1000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log_.warn("dead-letter producer flush at shutdown", {{"error", rd_kafka_err2str(err)}});
    }
  }
  for (auto& d : due_) delete d.record;
}

void DeadLetterProducer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  static_cast<DeadLetterProducer*>(opaque)->delivered(m);
}

void DeadLetterProducer::delivered(const rd_kafka_message_t* m) {
  auto* rec = static_cast<Record*>(m->_private);
  if (closing_) {
    delete rec;  // shutting down: never acknowledged, so redelivered
    --in_flight_;
    return;
  }
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    backoff_.reset();
    done_.emplace_back(rec);
    return;
  }
  auto wait = backoff_.next();
  if (warn_limit_.allow()) {
    log_.warn("dead-letter delivery failed; will produce again",
              {{"topic", options_.topic},
               {"error", rd_kafka_err2str(m->err)},
               {"source_topic", rec->topic},
               {"partition", rec->partition},
               {"offset", rec->offset},
               {"retry_in_ms", static_cast<std::int64_t>(wait.count())}});
  }
  due_.push_back({rec, Clock::now() + wait});
}

bool DeadLetterProducer::produce(Record* rec, const std::stop_token& st) {
  for (;;) {
    kafka::HeadersPtr headers(rd_kafka_headers_new(rec->out_headers.size()));
    for (const auto& h : rec->out_headers) {
      // Fails only on a read-only header list; this one is new and ours.
      (void)rd_kafka_header_add(headers.get(), h.name.data(), static_cast<ssize_t>(h.name.size()),
                                h.value.data(), static_cast<ssize_t>(h.value.size()));
    }
    // No copy of the value: the record outlives the message (freed after its report).
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(options_.topic.c_str()), RD_KAFKA_V_MSGFLAGS(0),
        RD_KAFKA_V_KEY(rec->has_key ? rec->key.data() : nullptr,
                       rec->has_key ? rec->key.size() : 0),
        RD_KAFKA_V_VALUE(rec->value.data(), rec->value.size()), RD_KAFKA_V_HEADERS(headers.get()),
        RD_KAFKA_V_OPAQUE(rec), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      headers.release();  // producev took ownership of the headers on success only
      return true;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !st.stop_requested()) {
      rd_kafka_poll(producer_.get(), 50);  // serving reports frees room
      continue;
    }
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // A local, permanent refusal (e.g. message too large): retrying cannot help and the
      // record must not be acknowledged. Stop the process; its offset stays uncommitted.
      log_.error("dead-letter produce refused", {{"topic", options_.topic},
                                                 {"error", rd_kafka_err2str(err)},
                                                 {"source_topic", rec->topic},
                                                 {"partition", rec->partition},
                                                 {"offset", rec->offset}});
      fatal_("produce to dead-letter topic " + options_.topic +
             " refused: " + rd_kafka_err2str(err));
    }
    return false;
  }
}

bool DeadLetterProducer::send(RecordPtr rec, const std::stop_token& st) {
  Record* raw = rec.release();  // owned by the in-flight set until its report
  ++in_flight_;
  if (produce(raw, st)) return true;
  delete raw;
  --in_flight_;
  return false;
}

void DeadLetterProducer::poll(std::chrono::milliseconds timeout, std::deque<RecordPtr>& done,
                              const std::stop_token& st) {
  auto now = Clock::now();
  for (auto it = due_.begin(); it != due_.end();) {
    if (it->at > now) {
      ++it;
      continue;
    }
    Record* rec = it->record;
    it = due_.erase(it);
    retries_.inc();
    if (!produce(rec, st)) {
      delete rec;
      --in_flight_;
    }
  }
  rd_kafka_poll(producer_.get(), static_cast<int>(timeout.count()));
  while (!done_.empty()) {
    done.push_back(std::move(done_.front()));
    done_.pop_front();
    --in_flight_;
  }
}

}  // namespace pemx::store
