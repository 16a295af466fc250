#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace pemx::test {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

int connect_loopback(std::uint16_t port, int receive_buffer) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (receive_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& raw) {
  std::size_t sent = 0;
  while (sent < raw.size()) {
    ssize_t n = send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

HttpResponse http_raw(std::uint16_t port, const std::string& raw) {
  HttpResponse r;
  int fd = connect_loopback(port);
  if (fd < 0) return r;
  // The server may answer (413, 431) and close before reading it all: read what it sent.
  send_all(fd, raw);
  std::string data;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::size_t header_end = std::string::npos, content_length = std::string::npos;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::string head = lower(data.substr(0, header_end));
        auto cl = head.find("\r\ncontent-length:");
        if (cl != std::string::npos) content_length = std::stoul(head.substr(cl + 17));
      }
    }
    if (header_end != std::string::npos && content_length != std::string::npos &&
        data.size() >= header_end + 4 + content_length) {
      break;
    }
  }
  close(fd);
  if (header_end == std::string::npos || data.compare(0, 5, "HTTP/") != 0) return r;
  r.status = std::stoi(data.substr(9, 3));
  std::size_t pos = data.find("\r\n") + 2;
  while (pos < header_end) {
    auto end = data.find("\r\n", pos);
    std::string line = data.substr(pos, end - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[lower(line.substr(0, colon))] = value;
    }
    pos = end + 2;
  }
  r.body = data.substr(header_end + 4);
  return r;
}

HttpResponse http_request(std::uint16_t port, const std::string& method, const std::string& target,
                          const std::map<std::string, std::string>& headers) {
  std::string raw = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) raw += k + ": " + v + "\r\n";
  return http_raw(port, raw + "\r\n");
}

HttpResponse http_get(std::uint16_t port, const std::string& target,
                      const std::map<std::string, std::string>& headers) {
  return http_request(port, "GET", target, headers);
}

HttpResponse http_post(std::uint16_t port, const std::string& target, const std::string& body,
                       const std::map<std::string, std::string>& headers) {
  std::string raw = "POST " + target +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: "
                    "application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n";
  for (const auto& [k, v] : headers) raw += k + ": " + v + "\r\n";
  return http_raw(port, raw + "\r\n" + body);
}

HttpStream::HttpStream(std::uint16_t port, const std::string& target,
                       const std::map<std::string, std::string>& headers, int receive_buffer) {
  fd_ = connect_loopback(port, receive_buffer);
  if (fd_ < 0) {
    closed_ = true;
    return;
  }
  std::string raw =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
  for (const auto& [k, v] : headers) raw += k + ": " + v + "\r\n";
  raw += "\r\n";
  if (!send_all(fd_, raw)) closed_ = true;
}

HttpStream::~HttpStream() {
  if (fd_ >= 0) close(fd_);
}

bool HttpStream::read_until(const std::string& text, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (data_.find(text) == std::string::npos) {
    if (closed_ || std::chrono::steady_clock::now() >= until) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[16384];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      continue;
    }
    data_.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

Exchange http_exchange(std::uint16_t port, const std::string& raw,
                       std::chrono::milliseconds timeout) {
  Exchange r;
  int fd = connect_loopback(port);
  if (fd < 0) return r;
  // The sender stops when the server stops reading (the send fails once it closed).
  std::thread sender([fd, &raw] { send_all(fd, raw); });
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      r.closed = true;
      break;
    }
    r.received.append(buf, static_cast<std::size_t>(n));
  }
  // Unblocks a sender still waiting on a server that kept the connection open.
  shutdown(fd, SHUT_RDWR);
  sender.join();
  close(fd);
  return r;
}

std::vector<int> statuses(const std::string& received) {
  std::vector<int> out;
  for (auto pos = received.find("HTTP/1."); pos != std::string::npos;
       pos = received.find("HTTP/1.", pos + 1)) {
    if (pos + 13 <= received.size() && received[pos + 8] == ' ' && received[pos + 12] == ' ') {
      out.push_back(std::atoi(received.substr(pos + 9, 3).c_str()));
    }
  }
  return out;
}

std::uint16_t listening_port(const std::string& log, std::size_t nth) {
  std::size_t pos = 0;
  for (std::size_t i = 0;; ++i) {
    pos = log.find("\"msg\":\"listening\"", pos);
    if (pos == std::string::npos) return 0;
    auto p = log.find("\"port\":", pos);
    if (i == nth) return static_cast<std::uint16_t>(std::stoi(log.substr(p + 7)));
    pos = p;
  }
}

}  // namespace pemx::test
