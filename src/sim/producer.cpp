#include "sim/producer.hpp"

#include <librdkafka/rdkafka.h>

#include "kafka/factory.hpp"

namespace pemx::sim {

Result<std::unique_ptr<EventProducer>> EventProducer::create(const kafka::KafkaConfig& kafka,
                                                             const std::string& brokers,
                                                             std::string topic,
                                                             OnDelivery on_delivery,
                                                             kafka::ClientLog log) {
  std::unique_ptr<EventProducer> p(new EventProducer(std::move(topic), std::move(on_delivery)));
  kafka::ProducerSettings settings;
  settings.kafka = kafka;
  settings.kafka.brokers = brokers;
  // Defaults: the config's own properties override them.
  settings.defaults = {{"linger.ms", "5"}, {"message.timeout.ms", "30000"}};
  settings.opaque = p.get();
  settings.on_delivery = &EventProducer::on_report;
  settings.log = std::move(log);
  auto client = kafka::make_producer(std::move(settings));
  if (!client) return client.error();
  p->producer_ = std::move(client.value());
  return p;
}

EventProducer::~EventProducer() = default;  // the handle's deleter waits for nothing

void EventProducer::on_report(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<EventProducer*>(opaque);
  std::string_view value(static_cast<const char*>(m->payload), m->len);
  self->on_delivery_(value,
                     m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? nullptr : rd_kafka_err2str(m->err));
}

std::optional<std::string> EventProducer::produce(std::string_view key, std::string_view value,
                                                  const std::function<bool()>& give_up) {
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return std::string(rd_kafka_err2str(err));
    rd_kafka_poll(producer_.get(), 10);  // room is made by delivery reports
    if (give_up && give_up()) return std::string(rd_kafka_err2str(err));
  }
}

void EventProducer::poll(std::chrono::milliseconds timeout) {
  rd_kafka_poll(producer_.get(), static_cast<int>(timeout.count()));
}

std::size_t EventProducer::in_flight() const {
  return static_cast<std::size_t>(rd_kafka_outq_len(producer_.get()));
}

}  // namespace pemx::sim
