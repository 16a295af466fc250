#pragma once
// kafka_sink: the stage factory. See README.md in this folder.
#include "pemx/registry.hpp"

namespace pemx::kafka_sink {

StageFactory factory();

}  // namespace pemx::kafka_sink
