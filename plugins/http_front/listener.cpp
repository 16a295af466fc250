// The listener: accepts connections on the acceptor's strand, keeps to max_connections (making
// room by closing the connection idle the longest, or pausing while every connection is busy),
// and backs off after a failed accept. See server.hpp for the policy and its reasons.
#include <algorithm>
#include <cerrno>

#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>

#include "http_front/server_impl.hpp"
#include "http_front/session.hpp"

namespace pemx::http_front {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::size_t connection_cap(std::size_t max_connections, std::uint64_t nofile) {
  if (nofile >= max_connections + kReservedFds) return max_connections;
  std::uint64_t cap = std::max<std::uint64_t>({nofile > kReservedFds ? nofile - kReservedFds : 0,
                                              nofile / 2, 1});
  return static_cast<std::size_t>(std::min<std::uint64_t>(cap, max_connections));
}

void Server::Impl::resume() {
  if (accept_paused && !stopping.load()) {
    accept_paused = false;
    accept();
  }
}

// A session became idle (its strand): if a connection waits at the cap for one, make room.
void Server::Impl::session_idle() {
  if (!waiting_for_idle.load() || stopping.load() || !waiting_for_idle.exchange(false)) return;
  net::post(acceptor.get_executor(), [this] {
    if (!evicting) resume();
  });
}

// The outcome of an eviction (the victim's strand). Closed: its session ends and
// connection_ended() resumes the listener. Not closed (a request arrived meanwhile): look
// again.
void Server::Impl::eviction_done(bool closed) {
  if (stopping.load()) return;
  net::post(acceptor.get_executor(), [this, closed] {
    evicting = false;
    if (closed) {
      evicted.inc();
      if (evict_warnings.allow()) {
        log.warn("connection limit reached; closed the longest-idle connection to admit a "
                 "new one",
                 {{"max_connections", max_connections},
                  {"suppressed", evict_warnings.take_suppressed()},
                  {"hint", "many idle or slow connections (a slowloris?): lower idle_timeout, "
                           "or raise max_connections if the clients are legitimate"}});
      }
    } else {
      resume();
    }
  });
}

// A Session or LiveStream ended (any thread): one connection less, and the acceptor, which
// may be waiting for a free slot, looks again on its strand.
void Server::Impl::connection_ended() {
  sessions.fetch_sub(1);
  if (stopping.load()) return;  // the acceptor is closed; the io_context may be going away
  net::post(acceptor.get_executor(), [this] { resume(); });
}

// On the acceptor's strand (or before the threads run). At the cap it does not accept: it
// waits until a connection is pending (make_room), without taking it from the backlog.
void Server::Impl::accept() {
  if (stopping.load()) return;
  if (static_cast<std::size_t>(std::max(sessions.load(), 0)) >= max_connections) {
    acceptor.async_wait(tcp::acceptor::wait_read, [this](beast::error_code ec) {
      if (!ec && !stopping.load()) make_room();
    });
    return;
  }
  acceptor.async_accept(net::make_strand(session_ioc()), [this](beast::error_code ec,
                                                                tcp::socket socket) {
    if (ec) {
      if (!stopping.load() && ec != net::error::operation_aborted) accept_failed(ec);
      return;
    }
    accept_backoff = kAcceptBackoffFirst;
    std::shared_ptr<net::ssl::context> tls;
    {
      std::lock_guard<std::mutex> lock(tls_mutex);
      tls = tls_context;
    }
    auto session = std::make_shared<Session>(std::move(socket), *this, std::move(tls));
    {
      std::lock_guard<std::mutex> lock(sessions_mutex);
      for (auto it = live.begin(); it != live.end();) it = it->expired() ? live.erase(it) : ++it;
      live.insert(session);
    }
    session->run();
    accept();
  });
}

// On the acceptor's strand: a connection is pending at the cap. The session idle the longest
// (waiting for a request, or reading one slowly: a slowloris) is closed to make room; once it
// has ended, connection_ended() resumes the listener, which accepts the new one. Sessions
// handling a request and live streams are never closed: when every connection is busy the
// listener pauses (new connections wait in the kernel's backlog, which bounds them, costing
// nothing) until one ends or becomes idle.
void Server::Impl::make_room() {
  if (static_cast<std::size_t>(std::max(sessions.load(), 0)) < max_connections) {
    accept();  // a connection ended meanwhile
    return;
  }
  accept_paused = true;
  if (evicting) return;  // one at a time: its outcome resumes the listener
  // Set before looking, so that a session becoming idle meanwhile is not missed.
  waiting_for_idle.store(true);
  std::shared_ptr<Session> victim;
  std::int64_t since = 0;
  {
    std::lock_guard<std::mutex> lock(sessions_mutex);
    for (auto it = live.begin(); it != live.end();) {
      auto s = it->lock();
      if (!s) {
        it = live.erase(it);
        continue;
      }
      const std::int64_t t = s->idle_since();
      if (t != 0 && (victim == nullptr || t < since)) {
        victim = std::move(s);
        since = t;
      }
      ++it;
    }
  }
  if (victim) {
    waiting_for_idle.store(false);
    evicting = true;
    victim->evict(since);
    return;
  }
  accept_pauses.inc();
  if (pause_warnings.allow()) {
    log.warn("connection limit reached and every connection is busy; new connections wait "
             "until one closes or becomes idle",
             {{"max_connections", max_connections},
              {"suppressed", pause_warnings.take_suppressed()},
              {"hint", "raise max_connections (and the open-file limit) if the clients are "
                       "legitimate"}});
  }
}

// A failed accept leaves the connection in the backlog, so trying again at once fails again:
// wait (10 ms doubling to 1 s while failures repeat), then try again.
void Server::Impl::accept_failed(const beast::error_code& ec) {
  accept_errors.inc();
  const auto wait = accept_backoff;
  accept_backoff = std::min(accept_backoff * 2, std::chrono::milliseconds(kAcceptBackoffMax));
  if (accept_warnings.allow()) {
    const bool out_of_fds = ec == net::error::no_descriptors ||
                            ec == beast::error_code(ENFILE, beast::system_category());
    log.warn("accept failed; retrying after a pause",
             {{"error", ec.message()},
              {"retry_in_ms", static_cast<std::int64_t>(wait.count())},
              {"open_connections", sessions.load()},
              {"suppressed", accept_warnings.take_suppressed()},
              {"hint", out_of_fds ? "the process is out of file descriptors: raise its open-file "
                                    "limit (ulimit -n, LimitNOFILE=) or lower max_connections"
                                  : "check the system's network resources"}});
  }
  accept_retry.expires_after(wait);
  accept_retry.async_wait([this](beast::error_code timer_ec) {
    if (!timer_ec && !stopping.load()) accept();
  });
}

}  // namespace pemx::http_front
