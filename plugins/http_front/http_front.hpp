#pragma once
// http_front: the stage factory. See README.md in this folder.
#include "pemx/registry.hpp"

namespace pemx::http_front {

StageFactory factory();

}  // namespace pemx::http_front
