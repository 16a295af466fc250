#pragma once
// rules_router: the stage factory. See README.md in this folder.
#include "pemx/registry.hpp"

namespace pemx::rules_router {

StageFactory factory();

}  // namespace pemx::rules_router
