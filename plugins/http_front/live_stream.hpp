#pragma once
// /api/live: Server-Sent Events read from the process's Activity ring at each client's pace.
// The handler (handlers::live) checks the request, answers its header and hands the connection
// to a LiveStream; the stream holds at most one batch of text, tells a client slower than the
// ring what it missed ("event: gap"), and closes one that cannot take a write within
// live_write_timeout. A stream ends when stop_accepting cancels it, and when a reload of the
// credentials (Server::set_credentials) no longer admits the Authorization it was opened with
// (its token revoked, or a token now required): it then writes "event: revoked" with the reason
// and closes. It notices the new credentials at its next pump (within kLivePoll when idle).
//
// Threads: a stream runs on the strand of the connection it took over; cancel from any thread.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "http_front/flex_stream.hpp"

#include "http_front/server_impl.hpp"
#include "pemx/activity.hpp"

namespace pemx::http_front {

struct LiveFilter {
  std::string kind;
  std::set<std::string> product_ids;  // empty: any
  std::string event_type;             // empty: any
  bool matches(const LiveEvent& e) const {
    return e.kind == kind && (product_ids.empty() || product_ids.count(e.product_id) != 0) &&
           (event_type.empty() || e.event_type == event_type);
  }
};

// One /api/live client.
class LiveStream : public std::enable_shared_from_this<LiveStream> {
 public:
  // Who opened it: the request's Authorization value ("" if none), the name of the known token
  // it presented ("" if none) and the generation of the credentials that admitted it.
  struct Opener {
    std::string authorization;
    std::string token_name;
    std::uint64_t generation = 0;
  };
  LiveStream(FlexStream&& stream, Server::Impl& server, LiveFilter filter, std::uint64_t after,
             Opener opener);
  ~LiveStream();
  // The response header is already in `head`; events follow it.
  void start(std::string head);
  void cancel();

 private:
  using Clock = std::chrono::steady_clock;
  // Reads nothing but notices the client going away.
  void watch_client();
  // Reads the ring from after_: events that match go into one batch (at most kLiveBatch
  // events and kLiveMaxBatchBytes), written before anything more is read. While behind, it
  // keeps reading (yielding to other handlers between slices); once caught up it polls.
  void pump();
  // "<process start>.<seq>": a Last-Event-ID from an earlier process is recognised as such.
  std::string event_id(std::uint64_t seq) const;
  void append(const LiveEvent& e);
  // After a reload of the credentials: why they no longer admit this stream, or "".
  std::string revoked();
  void write();
  void close();

  FlexStream stream_;
  Server::Impl& server_;
  Activity::Watch watch_;
  LiveFilter filter_;
  std::uint64_t after_;
  boost::asio::steady_timer timer_;
  std::string text_;
  std::array<char, 512> sink_{};
  Clock::time_point next_heartbeat_;
  Opener opener_;
  std::shared_ptr<AccessState> access_;  // the credentials last checked against (may be null)
  bool ending_ = false;                  // the "revoked" event is being written: then close
  bool closed_ = false;
};

}  // namespace pemx::http_front
