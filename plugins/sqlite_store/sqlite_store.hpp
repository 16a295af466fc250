#pragma once
// sqlite_store: the stage factory. See README.md in this folder.
#include "pemx/registry.hpp"

namespace pemx::sqlite_store {

StageFactory factory();

}  // namespace pemx::sqlite_store
