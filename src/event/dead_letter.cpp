#include "event/dead_letter.hpp"

#include <algorithm>

namespace pemx::event {

void fit_dead_letter(std::string& value, std::string& key, std::vector<Header>& headers,
                     const JsonLimits& limits) {
  for (auto& h : headers) {
    if (h.value.size() > kMaxDeadLetterHeader) h.value = excerpt(h.value, kMaxDeadLetterHeader);
  }
  if (key.size() > kMaxDeadLetterKey) {
    headers.push_back({std::string(kHeaderOriginalKeyBytes), std::to_string(key.size())});
    key.resize(kMaxDeadLetterKey);  // a key is bytes: cut as bytes
  }
  std::size_t size = value.size() + key.size();
  for (const auto& h : headers) size += h.name.size() + h.value.size();
  if (size <= limits.max_bytes) return;
  headers.push_back({std::string(kHeaderOriginalBytes), std::to_string(value.size())});
  value.resize(std::min(value.size(), limits.max_bytes / 2));
}

}  // namespace pemx::event
