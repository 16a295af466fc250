// The server's lifecycle: start (bind, listen, run the threads), stop_accepting, drain, stop.
// The listener is listener.cpp, a connection session.cpp, the routes routes.hpp and
// api_routes.cpp, the handlers handlers.hpp, the live stream live_stream.hpp.
#include "http_front/server.hpp"

#include <stdexcept>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/error.hpp>

#include <sys/resource.h>

#include "http_front/live_stream.hpp"
#include "http_front/pusher.hpp"
#include "http_front/server_impl.hpp"
#include "http_front/session.hpp"

namespace pemx::http_front {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

Server::Impl::Impl(ServerSettings s, Logger l, Metrics& m, std::shared_ptr<EventReader> r,
                   Pusher* p, Activity* a)
    : settings(std::move(s)), log(std::move(l)), metrics(m), reader(std::move(r)),
      rows(dynamic_cast<RowStreamReader*>(reader.get())),
      async_history(dynamic_cast<AsyncHistoryReader*>(reader.get())), pusher(p),
      idempotency(settings.push_enabled && p != nullptr &&
                          settings.idempotency.window.count() > 0
                      ? std::make_unique<IdempotencyTable>(settings.idempotency, p->topic(), &m)
                      : nullptr),
      activity(a), overview(m, a),
      ioc_per_thread(async_history != nullptr && settings.io_threads > 1),
      ioc(ioc_per_thread || settings.io_threads <= 1 ? 1 : BOOST_ASIO_CONCURRENCY_HINT_DEFAULT),
      acceptor(net::make_strand(ioc)),
      accept_retry(acceptor.get_executor()), sampler(net::make_strand(ioc)),
      queries(static_cast<std::size_t>(settings.query_threads)),
      lineage_pool(std::max<std::size_t>(1, settings.lineage.max_concurrent)),
      max_connections(settings.max_connections),
      addresses(settings.rate_limits.any_per_address() ? settings.rate_limits.max_addresses : 1),
      tls_failures(m.counter("pemx_http_tls_handshake_failures_total",
                             "TLS handshakes that failed (plain HTTP on the TLS port, a client "
                             "refusing the certificate, a timeout)")),
      accept_errors(m.counter("pemx_http_accept_errors_total",
                              "Failed accepts (each is retried after a back-off)")),
      accept_pauses(m.counter("pemx_http_accept_pauses_total",
                              "Times a new connection waited at max_connections because no "
                              "open connection was idle")),
      evicted(m.counter("pemx_http_evicted_total",
                        "Idle connections closed at max_connections to admit a new one")),
      socket_reads(m.counter("pemx_http_socket_reads_total",
                             "Reads of HTTP requests from their connections (after TLS): "
                             "against pemx_http_requests_total, how many a request takes; a "
                             "client trickling its bytes shows here")),
      lineage_cancelled(m.counter("pemx_http_front_lineage_cancelled_total",
                                  "Lineage lookups cancelled because their client closed the "
                                  "connection before the answer")) {
  access = std::make_shared<AccessState>(settings.credentials);
  for (std::size_t r = 0; r < kRateRoutes; ++r) {
    for (std::size_t by = 0; by < 2; ++by) {
      rate_limited[r][by] = &m.counter(
          "pemx_http_rate_limited_total", "Requests refused with 429 by a rate limit",
          {{"route", r == static_cast<std::size_t>(RateRoute::kPush) ? "push" : "read"},
           {"by", by == 0 ? "token" : "address"}});
    }
  }
  m.gauge_fn("pemx_http_connections", "Open HTTP connections (live streams included)", {},
             [this] { return static_cast<double>(sessions.load()); });
}

void Server::Impl::current_access(std::shared_ptr<AccessState>& kept,
                                  std::uint64_t& generation) {
  const std::uint64_t now = access_generation.load(std::memory_order_acquire);
  if (kept && generation == now) return;
  std::lock_guard<std::mutex> lock(access_mutex);
  kept = access;
  generation = access_generation.load(std::memory_order_relaxed);
}

void Server::Impl::tls_failed(const boost::system::error_code& ec) {
  tls_failures.inc();
  std::lock_guard<std::mutex> lock(tls_mutex);
  if (tls_warnings.allow()) {
    log.warn("TLS handshake failed",
             {{"error", ec.message()},
              {"suppressed", tls_warnings.take_suppressed()},
              {"hint", "clients must use https:// on this port; a client refusing the "
                       "certificate needs its CA"}});
  }
}

std::optional<std::string> Server::reload_tls() {
  auto& i = *impl_;
  if (!i.settings.tls.enabled()) return std::nullopt;
  auto loaded = load_tls(i.settings.tls);
  if (!loaded.context) {
    i.log.warn("TLS certificate not reloaded; the previous one stays",
               {{"key", loaded.key}, {"error", loaded.error}});
    return loaded.key + ": " + loaded.error;
  }
  {
    std::lock_guard<std::mutex> lock(i.tls_mutex);
    i.tls_context = std::move(loaded.context);
  }
  i.log.info("TLS certificate reloaded", {{"cert_file", i.settings.tls.cert_file}});
  return std::nullopt;
}

void Server::set_credentials(Credentials credentials) {
  auto next = std::make_shared<AccessState>(std::move(credentials));
  std::lock_guard<std::mutex> lock(impl_->access_mutex);
  // A token that stays (by name) keeps its buckets: a reload is no fresh burst.
  if (const auto& old = impl_->access) {
    std::lock_guard<std::mutex> buckets(old->mutex);
    const auto& was = old->credentials.tokens;
    const auto& now = next->credentials.tokens;
    for (std::size_t i = 0; i < now.size(); ++i) {
      for (std::size_t j = 0; j < was.size(); ++j) {
        if (was[j].name == now[i].name) next->token_buckets[i] = old->token_buckets[j];
      }
    }
  }
  impl_->access = std::move(next);
  impl_->access_generation.fetch_add(1, std::memory_order_release);
}

void Server::Impl::sample() {
  overview.sample(epoch_ms_now());
  sampler.expires_after(kSampleEvery);
  sampler.async_wait([this](beast::error_code ec) {
    if (!ec && !stopping.load()) sample();
  });
}

void Server::Impl::find_series(RequestSeries& series, const std::string& route, int status) {
  series.route = route;
  series.status = status;
  series.requests =
      &metrics.counter("pemx_http_requests_total", "HTTP requests by route and status",
                       {{"route", route}, {"status", std::to_string(status)}});
  series.seconds = &metrics.histogram("pemx_http_request_seconds", "HTTP request latency by route",
                                      {{"route", route}});
}

void Server::Impl::count(RequestSeries& series, const std::string& route, int status,
                         double seconds) {
  if (series.requests == nullptr || series.status != status || series.route != route) {
    find_series(series, route, status);
  }
  series.requests->inc();
  series.seconds->observe(seconds);
}

Server::Server(ServerSettings settings, Logger log, Metrics& metrics,
               std::shared_ptr<EventReader> reader, Pusher* pusher, Activity* activity,
               std::optional<ThreadOwner> threads)
    : threads_(threads ? std::move(*threads) : ThreadOwner{"http_front", log, nullptr}),
      impl_(std::make_unique<Impl>(std::move(settings), std::move(log), metrics,
                                   std::move(reader), pusher, activity)) {}

Server::~Server() { stop(); }

void Server::start() {
  auto& i = *impl_;
  if (i.settings.tls.enabled()) {
    auto loaded = load_tls(i.settings.tls);
    if (!loaded.context) throw std::runtime_error(loaded.key + ": " + loaded.error);
    std::lock_guard<std::mutex> lock(i.tls_mutex);
    i.tls_context = std::move(loaded.context);
  }
  beast::error_code ec;
  auto address = net::ip::make_address(i.settings.host, ec);
  if (ec) throw std::runtime_error("http.listen: \"" + i.settings.host + "\" is not an IP address");
  tcp::endpoint ep(address, i.settings.port);
  i.acceptor.open(ep.protocol(), ec);
  if (!ec) i.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(ep, ec);
  if (!ec) i.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + i.settings.host + ":" +
                             std::to_string(i.settings.port) + ": " + ec.message() +
                             " (set " + i.settings.listen_key + " to a free address)");
  }
  i.port = i.acceptor.local_endpoint().port();
  // Each connection is a descriptor: a cap above the open-file limit would only turn into
  // failed accepts (and failed Kafka or SQLite opens). Lower the cap and say so.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    i.max_connections = connection_cap(i.settings.max_connections, nofile.rlim_cur);
    if (i.max_connections < i.settings.max_connections) {
      i.log.warn("open-file limit too low for max_connections; accepting fewer connections",
                 {{"max_connections", i.settings.max_connections},
                  {"open_file_limit", static_cast<std::uint64_t>(nofile.rlim_cur)},
                  {"reserved_fds", kReservedFds},
                  {"effective_max_connections", i.max_connections},
                  {"hint", "raise the open-file limit (ulimit -n, LimitNOFILE=) to at least "
                           "max_connections + " + std::to_string(kReservedFds) +
                           ", or lower max_connections"}});
    }
  }
  i.log.info("listening", {{"address", i.settings.host},
                           {"port", static_cast<int>(i.port)},
                           {"tls", i.settings.tls.enabled()},
                           {"max_connections", i.max_connections}});
  if (!i.settings.tls.enabled() && !address.is_loopback()) {
    i.log.warn("HTTP WITHOUT TLS ON A NON-LOOPBACK ADDRESS: bearer tokens and events cross the "
               "network in clear",
               {{"address", i.settings.host},
                {"port", static_cast<int>(i.port)},
                {"hint", "set tls_cert_file and tls_key_file on this stage, or listen on "
                         "127.0.0.1 behind a TLS-terminating proxy"}});
  }
  i.ioc_work.emplace(i.ioc.get_executor());
  if (i.ioc_per_thread) {
    for (int t = 1; t < i.settings.io_threads; ++t) {
      i.session_iocs.push_back(std::make_unique<net::io_context>(1));
      i.session_work.push_back(net::make_work_guard(*i.session_iocs.back()));
    }
  }
  i.accept();
  i.sample();
  // The shared ioc: every I/O thread; else one, and one for each of session_iocs.
  const int shared = i.ioc_per_thread ? 1 : i.settings.io_threads;
  for (int t = 0; t < shared; ++t) {
    i.threads.emplace_back([&i, this] { run_guarded(threads_, "http-io", [&i] { i.ioc.run(); }); });
  }
  for (auto& ioc : i.session_iocs) {
    i.threads.emplace_back([this, c = ioc.get()] {
      run_guarded(threads_, "http-io", [c] { c->run(); });
    });
  }
}

net::io_context& Server::Impl::session_ioc() {
  const std::size_t n = next_ioc++ % (session_iocs.size() + 1);
  return n == 0 ? ioc : *session_iocs[n - 1];
}

std::uint16_t Server::port() const { return impl_->port; }

void Server::stop_accepting() noexcept {
  auto& i = *impl_;
  if (i.stopping.exchange(true)) return;
  net::post(i.acceptor.get_executor(), [&i] {
    beast::error_code ec;
    i.acceptor.close(ec);
    i.accept_retry.cancel();
  });
  net::post(i.sampler.get_executor(), [&i] { i.sampler.cancel(); });
  std::lock_guard<std::mutex> lock(i.sessions_mutex);
  for (const auto& w : i.live) {
    if (auto s = w.lock()) s->close_if_idle();
  }
  // Live streams never end by themselves: end them now.
  for (const auto& w : i.streams) {
    if (auto s = w.lock()) s->cancel();
  }
}

bool Server::drain(const Deadline& deadline) noexcept {
  while (impl_->sessions.load() > 0) {
    if (deadline.passed()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void Server::stop() noexcept {
  auto& i = *impl_;
  stop_accepting();
  // Lookups under way end at their next poll (100 ms) instead of their timeout.
  if (i.settings.lineage_lookup) i.settings.lineage_lookup->cancel();
  {
    std::lock_guard<std::mutex> lock(i.sessions_mutex);
    for (const auto& w : i.live) {
      if (auto s = w.lock()) s->cancel();
    }
    for (const auto& w : i.streams) {
      if (auto s = w.lock()) s->cancel();
    }
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (i.sessions.load() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  i.ioc_work.reset();
  i.ioc.stop();
  for (auto& ioc : i.session_iocs) ioc->stop();
  for (auto& t : i.threads) {
    if (t.joinable()) t.join();
  }
  i.threads.clear();
  i.queries_closed.store(true);
  i.queries.join();
  i.lineage_pool.join();
}

}  // namespace pemx::http_front

