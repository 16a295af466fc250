#pragma once
// simulator: the stage factory. See README.md in this folder.
#include "pemx/registry.hpp"

namespace pemx::simulator {

StageFactory factory();

}  // namespace pemx::simulator
