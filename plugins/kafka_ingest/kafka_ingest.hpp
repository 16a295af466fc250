#pragma once
// kafka_ingest: the stage factory. See README.md in this folder.
#include "pemx/registry.hpp"

namespace pemx::kafka_ingest {

StageFactory factory();

}  // namespace pemx::kafka_ingest
