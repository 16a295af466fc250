#pragma once
// postgres_store: the stage factory. See README.md in this folder.
#include "pemx/registry.hpp"

namespace pemx::postgres_store {

StageFactory factory();

}  // namespace pemx::postgres_store
