#include "http_front/live_stream.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <sstream>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "http_front/handlers.hpp"
#include "http_front/session.hpp"

namespace pemx::http_front {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr auto kLivePoll = std::chrono::milliseconds(250);
constexpr auto kLiveHeartbeat = std::chrono::seconds(15);
constexpr std::size_t kLiveBatch = 256;   // events per write at most
constexpr std::size_t kLiveMaxBatchBytes = 256 * 1024;  // and bytes (a little more: one event)
constexpr std::size_t kLiveReplay = 20;  // recent events sent to a new stream

LiveStream::LiveStream(FlexStream&& stream, Server::Impl& server, LiveFilter filter,
                       std::uint64_t after, Opener opener)
    : stream_(std::move(stream)), server_(server), watch_(*server.activity),
      filter_(std::move(filter)), after_(after), timer_(stream_.get_executor()),
      next_heartbeat_(Clock::now() + kLiveHeartbeat), opener_(std::move(opener)) {
  server_.sessions.fetch_add(1);
}

LiveStream::~LiveStream() {
  server_.stream_count.fetch_sub(1);
  server_.connection_ended();
}

void LiveStream::start(std::string head) {
  net::dispatch(stream_.get_executor(),
                [self = shared_from_this(), head = std::move(head)]() mutable {
                  self->text_ = std::move(head);
                  self->text_ += "retry: 2000\nevent: hello\ndata: {\"kind\":\"" +
                                 self->filter_.kind + "\",\"buffer\":" +
                                 std::to_string(self->server_.activity->capacity()) + "}\n\n";
                  self->watch_client();
                  self->write();
                });
}

void LiveStream::cancel() {
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
}

void LiveStream::watch_client() {
  stream_.socket().async_read_some(
      net::buffer(sink_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) {
          self->close();
          return;
        }
        self->watch_client();
      });
}

void LiveStream::pump() {
  if (closed_) return;
  if (server_.stopping.load()) {
    close();
    return;
  }
  text_.clear();
  if (text_.capacity() > 2 * kLiveMaxBatchBytes) text_.shrink_to_fit();
  if (const std::string why = revoked(); !why.empty()) {
    server_.log.info("live stream closed: its credentials were revoked by a reload",
                     {{"token", opener_.token_name}, {"reason", why}});
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("reason");
    w.String(why.data(), static_cast<rapidjson::SizeType>(why.size()));
    w.EndObject();
    // No retry hint can help: EventSource reconnects, and gets the 401 (or a stream without
    // the token, where reads are open).
    text_ = "event: revoked\ndata: " + std::string(buf.GetString()) + "\n\n";
    ending_ = true;
    write();
    return;
  }
  auto slice = server_.activity->since(after_, kLiveBatch);
  if (slice.missed > 0) {
    std::uint64_t last_missed = slice.events.empty() ? slice.last : slice.events.front()->seq - 1;
    text_ += "id: " + event_id(last_missed) + "\nevent: gap\ndata: {\"missed\":" +
             std::to_string(slice.missed) + "}\n\n";
    after_ = last_missed;
  }
  for (const auto& e : slice.events) {
    if (text_.size() >= kLiveMaxBatchBytes) break;
    if (filter_.matches(*e)) append(*e);
    after_ = e->seq;
  }
  if (slice.events.empty()) after_ = std::max(after_, slice.last);
  const bool behind = after_ < server_.activity->last_seq();
  if (!text_.empty()) {
    write();
  } else if (behind) {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->pump(); });
  } else if (Clock::now() >= next_heartbeat_) {
    // The id moves the client's Last-Event-ID past events its filter skipped.
    text_ = "id: " + event_id(after_) + "\n: keep-alive\n\n";
    write();
  } else {
    timer_.expires_after(kLivePoll);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->pump();
    });
  }
}

std::string LiveStream::revoked() {
  const std::uint64_t before = opener_.generation;
  server_.current_access(access_, opener_.generation);
  if (opener_.generation == before || !access_) return {};
  // /api/live's access (api_routes.cpp): a read.
  const AuthDecision d = authorize(access_->credentials, Access::kRead, opener_.authorization);
  if (d.status != 0) {
    return opener_.token_name.empty() ? "reads now need a token" : "the token was revoked";
  }
  // Reads may be open, but the token the stream was opened with is gone: it ends too, so a
  // revoked token holds nothing open.
  if (!opener_.token_name.empty() && d.token < 0) return "the token was revoked";
  return {};
}

std::string LiveStream::event_id(std::uint64_t seq) const {
  return std::to_string(server_.activity->started_at_ms) + "." + std::to_string(seq);
}

void LiveStream::append(const LiveEvent& e) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("seq");
  w.Uint64(e.seq);
  w.Key("kind");
  w.String(e.kind.data(), static_cast<rapidjson::SizeType>(e.kind.size()));
  w.Key("at");
  w.Int64(e.at_ms);
  if (!e.topics.empty()) {
    w.Key("topics");
    w.StartArray();
    for (const auto& t : e.topics) w.String(t.data(), static_cast<rapidjson::SizeType>(t.size()));
    w.EndArray();
  }
  w.Key("event");
  // The event as received: a JSON object the router or the store already parsed.
  w.RawValue(e.json.data(), e.json.size(), rapidjson::kObjectType);
  w.EndObject();
  text_ += "id: " + event_id(e.seq) + "\nevent: event\ndata: ";
  // A line break ends an SSE field; in valid JSON it can only be whitespace.
  for (const char* p = buf.GetString(); *p != '\0'; ++p) {
    text_ += (*p == '\n' || *p == '\r') ? ' ' : *p;
  }
  text_ += "\n\n";
}

void LiveStream::write() {
  next_heartbeat_ = Clock::now() + kLiveHeartbeat;
  stream_.expires_after(server_.settings.live_write_timeout);
  net::async_write(stream_, net::buffer(text_),
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     if (ec || self->ending_) {
                       self->close();
                       return;
                     }
                     self->stream_.expires_never();
                     self->pump();
                   });
}

void LiveStream::close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
}

namespace handlers {

// GET /api/live?kind=&productIds=&eventType=: hands the connection to a LiveStream.
// HEAD: the same checks and the stream's header, then the connection closes as a GET's
// would; no stream starts and none is reserved.
void live(Session& s) {
  auto& server = s.server();
  const auto& req = s.request();
  const std::string_view query = s.query();
  auto params = parse_query(query);
  if (!params || !valid_utf8(query)) return s.send(error_answer(400, "malformed query string"));
  std::vector<std::string> kinds = server.activity ? server.activity->kinds()
                                                   : std::vector<std::string>{};
  auto offered = [&](const std::string& k) {
    return std::find(kinds.begin(), kinds.end(), k) != kinds.end();
  };
  LiveFilter filter;
  for (const auto& [key, value] : *params) {
    if (key == "kind") {
      filter.kind = value;
    } else if (key == "eventType") {
      filter.event_type = value;
    } else if (key == "productIds") {
      for (auto& id : split_product_ids(value)) filter.product_ids.insert(std::move(id));
      if (filter.product_ids.size() > kMaxIds) {
        return s.send(error_answer(400, "at most 200 productIds"));
      }
    }
  }
  if (kinds.empty()) return s.send(error_answer(503, "this role streams no events"));
  if (server.stopping.load()) return s.send(error_answer(503, "shutting down"));
  if (filter.kind.empty()) filter.kind = offered("stored") ? "stored" : kinds.front();
  if (!offered(filter.kind)) {
    std::string list;
    for (const auto& k : kinds) list += (list.empty() ? "" : ", ") + k;
    return s.send(error_answer(400, "kind must be one of: " + list));
  }
  const bool head = req.method() == http::verb::head;
  const std::size_t streams =
      head ? server.stream_count.load() : server.stream_count.fetch_add(1);
  if (streams >= server.settings.max_live_clients) {
    if (!head) server.stream_count.fetch_sub(1);
    return s.send(error_answer(503, "too many live streams; try again later"));
  }
  // Resume after Last-Event-ID (EventSource sends it when it reconnects), or replay a few.
  std::uint64_t last = server.activity->last_seq();
  std::uint64_t after = last > kLiveReplay ? last - kLiveReplay : 0;
  auto resume = req["Last-Event-ID"];
  auto dot = resume.find('.');
  if (dot != beast::string_view::npos) {
    std::int64_t epoch = 0;
    std::uint64_t id = 0;
    auto [e1, ec1] = std::from_chars(resume.data(), resume.data() + dot, epoch);
    auto [e2, ec2] = std::from_chars(resume.data() + dot + 1, resume.data() + resume.size(), id);
    if (ec1 == std::errc() && ec2 == std::errc() && e1 == resume.data() + dot &&
        e2 == resume.data() + resume.size() && epoch == server.activity->started_at_ms &&
        id <= last) {
      after = id;
    }
  }
  auto res = std::make_shared<http::response<http::empty_body>>(http::status::ok, req.version());
  res->set(http::field::server, "pemx");
  res->set(http::field::content_type, "text/event-stream; charset=utf-8");
  res->set(http::field::cache_control, "no-store");
  res->set("X-Content-Type-Options", "nosniff");
  res->set("X-Accel-Buffering", "no");
  s.add_cors(*res);
  res->keep_alive(false);
  if (head) return s.send_header_and_close(std::move(res));
  std::ostringstream header;
  header << res->base();
  auto authorization = req[http::field::authorization];
  LiveStream::Opener opener{std::string(authorization.data(), authorization.size()),
                            std::string(s.token_name()), s.access_generation()};
  auto stream = std::make_shared<LiveStream>(s.hand_over(), server, std::move(filter), after,
                                             std::move(opener));
  {
    std::lock_guard<std::mutex> lock(server.sessions_mutex);
    for (auto it = server.streams.begin(); it != server.streams.end();) {
      it = it->expired() ? server.streams.erase(it) : ++it;
    }
    server.streams.insert(stream);
  }
  stream->start(header.str());
}

}  // namespace handlers
}  // namespace pemx::http_front
