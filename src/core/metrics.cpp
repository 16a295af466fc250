#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "pemx/metrics.hpp"

namespace pemx {

void Histogram::observe(double seconds) {
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + seconds, std::memory_order_relaxed)) {
  }
}

Metrics::Family& Metrics::family(const std::string& name, const std::string& help,
                                 const char* type) {
  auto& f = families_[name];
  if (f.type.empty()) {
    f.type = type;
    f.help = help;
  }
  return f;
}

Counter& Metrics::counter(const std::string& name, const std::string& help,
                          const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, help, "counter").counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Metrics::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, help, "gauge").gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Metrics::histogram(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, help, "histogram").histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>();
  return *slot;
}

void Metrics::gauge_fn(const std::string& name, const std::string& help, const Labels& labels,
                       std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mutex_);
  family(name, help, "gauge").gauge_fns[labels] = std::move(read);
}

void Metrics::counter_fn(const std::string& name, const std::string& help, const Labels& labels,
                         std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mutex_);
  family(name, help, "counter").gauge_fns[labels] = std::move(read);
}

void Metrics::remove_gauge_fn(const std::string& name, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.gauge_fns.erase(labels);
}

namespace {
std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
std::string label_text(const Labels& labels, const std::string& extra = {}) {
  if (labels.empty() && extra.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    out += k + "=\"" + escape(v) + "\"";
    first = false;
  }
  if (!extra.empty()) out += (first ? "" : ",") + extra;
  return out + "}";
}
// The shortest text that reads back as the same double ("0.1", not "0.10000000000000001"),
// as Prometheus clients write bucket bounds.
std::string number(double v) {
  char buf[64];
  bool plain = v == 0 || (std::abs(v) >= 1e-6 && std::abs(v) < 1e15);
  auto [end, ec] = plain ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                         : std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}
}  // namespace

std::string Metrics::render_prometheus() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream out;
  for (const auto& [name, f] : families_) {
    out << "# HELP " << name << " " << f.help << "\n# TYPE " << name << " " << f.type << "\n";
    for (const auto& [labels, c] : f.counters) {
      out << name << label_text(labels) << " " << c->value() << "\n";
    }
    for (const auto& [labels, g] : f.gauges) {
      out << name << label_text(labels) << " " << number(g->value()) << "\n";
    }
    for (const auto& [labels, read] : f.gauge_fns) {
      out << name << label_text(labels) << " " << number(read()) << "\n";
    }
    for (const auto& [labels, h] : f.histograms) {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
        cumulative += h->bucket(i);
        out << name << "_bucket"
            << label_text(labels, "le=\"" + number(Histogram::kBounds[i]) + "\"") << " "
            << cumulative << "\n";
      }
      out << name << "_bucket" << label_text(labels, "le=\"+Inf\"") << " " << h->count()
          << "\n";
      out << name << "_sum" << label_text(labels) << " " << number(h->sum()) << "\n";
      out << name << "_count" << label_text(labels) << " " << h->count() << "\n";
    }
  }
  return out.str();
}

std::uint64_t Metrics::counter_total(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  std::uint64_t total = 0;
  for (const auto& [labels, c] : it->second.counters) total += c->value();
  return total;
}

std::uint64_t Metrics::counter_value(const std::string& name, const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto c = it->second.counters.find(labels);
  return c == it->second.counters.end() ? 0 : c->second->value();
}

std::vector<Metrics::Sample> Metrics::read(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Sample> out;
  auto it = families_.find(name);
  if (it == families_.end()) return out;
  const Family& f = it->second;
  for (const auto& [labels, c] : f.counters) out.push_back({labels, static_cast<double>(c->value())});
  for (const auto& [labels, g] : f.gauges) out.push_back({labels, g->value()});
  for (const auto& [labels, fn] : f.gauge_fns) out.push_back({labels, fn()});
  return out;
}

}  // namespace pemx
