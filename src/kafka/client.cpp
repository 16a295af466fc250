#include "kafka/client.hpp"

#include <librdkafka/rdkafka.h>

namespace pemx::kafka {

void ConfDeleter::operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
void HandleDeleter::operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
void PartitionListDeleter::operator()(rd_kafka_topic_partition_list_t* l) const {
  rd_kafka_topic_partition_list_destroy(l);
}
void HeadersDeleter::operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
void MessageDeleter::operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
void ErrorDeleter::operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
void MetadataDeleter::operator()(const rd_kafka_metadata_t* md) const {
  rd_kafka_metadata_destroy(md);
}

namespace {
std::optional<std::string> set(rd_kafka_conf_t* conf, const std::string& name,
                               const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    return "librdkafka property \"" + name + "\": " + errstr;
  }
  return std::nullopt;
}
}  // namespace

Result<ConfPtr> make_conf(const KafkaConfig& common, const Properties& client_specific) {
  ConfPtr conf(rd_kafka_conf_new());
  Properties all = {{"bootstrap.servers", common.brokers}, {"client.id", common.client_id}};
  all.insert(all.end(), common.properties.begin(), common.properties.end());
  all.insert(all.end(), client_specific.begin(), client_specific.end());
  for (const auto& [name, value] : all) {
    if (auto err = set(conf.get(), name, value)) return Error{"bad_property", *err};
  }
  return conf;
}

std::vector<std::string> unsafe_producer_properties(const Properties& properties) {
  std::vector<std::string> out;
  for (const auto& [name, value] : properties) {
    if ((name == "enable.idempotence" && value != "true") ||
        ((name == "acks" || name == "request.required.acks") && value != "all" &&
         value != "-1")) {
      out.push_back(name + " = " + value + " would break at-least-once delivery; remove it");
    }
  }
  return out;
}

std::optional<std::string> check_properties(const Properties& properties) {
  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [name, value] : properties) {
    if (auto err = set(conf.get(), name, value)) return err;
  }
  return std::nullopt;
}

Result<HandlePtr> make_client(ClientKind kind, ConfPtr conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(kind == ClientKind::kProducer ? RD_KAFKA_PRODUCER
                                                                : RD_KAFKA_CONSUMER,
                                conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) return Error{"client_create", errstr};  // conf still ours: freed by conf
  conf.release();  // rd_kafka_new took ownership of conf on success
  return HandlePtr(rk);
}

std::optional<std::string> wait_for_cluster(rd_kafka_t* rk, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, 0, nullptr, &md, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::string(rd_kafka_err2str(err));
  rd_kafka_metadata_destroy(md);
  return std::nullopt;
}

}  // namespace pemx::kafka
