#pragma once
// kafka_sink: the stage factory. See README.md in this folder.
#include <cstddef>
#include <string>

#include "pemx/registry.hpp"

namespace pemx::kafka_sink {

StageFactory factory();

// Test only: raises librdkafka's fatal error `err` (an rd_kafka_resp_err_t, e.g.
// OUT_OF_ORDER_SEQUENCE_NUMBER) with `reason` on the current producer of `stage`'s cluster
// `cluster` (0: [kafka], n: the n-th [clusters.*]), through rd_kafka_test_fatal_error, as
// librdkafka 2.0.2's sequence desynchronization does after a broker failure. Any thread.
// False when `stage` is no kafka_sink, has no such cluster, or its producer had one already.
bool raise_fatal_error_for_test(Stage& stage, std::size_t cluster, int err,
                                const std::string& reason);

}  // namespace pemx::kafka_sink
