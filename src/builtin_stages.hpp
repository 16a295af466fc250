#pragma once
#include "pemx/registry.hpp"

namespace pemx {
// The one list of the stages compiled into this binary.
Registry builtin_stages();
}  // namespace pemx
