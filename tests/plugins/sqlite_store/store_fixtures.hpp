#pragma once
// Shared helpers of the sqlite_store tests: rows made through the real row mapping, and a raw
// connection to look at (or lock) the file behind the store's back.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "sqlite_store/sqlite_handle.hpp"
#include "store/row_mapping.hpp"

namespace pemx::sqlite_store::test {

// A valid UUID from a number, so that event ids sort like their numbers.
inline std::string uuid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}

inline store::EventRow make_row(const std::string& event_id, const std::string& product_id,
                                const std::string& created_at,
                                const std::string& event_type = "ProductPriceUpdate",
                                std::int64_t offset = 0) {
  std::string json = R"({"eventId":")" + event_id + R"(","eventType":")" + event_type +
                     R"(","productId":")" + product_id + R"(","region":"US","createdAt":")" +
                     created_at + R"(","data":{"newPrice":7.31,"previousPrice":2.05}})";
  auto row =
      store::map_event_row(json, {"product-event-storage-pemx", 0, offset}, 1'700'000'000'000);
  REQUIRE(row.ok());
  return row.value();
}

// A plain read-write connection to the store's file.
class RawDb {
 public:
  explicit RawDb(const std::string& path) : path_(path) {
    auto db = open_db(path, OpenMode::kReadWrite, std::chrono::milliseconds(0));
    REQUIRE(db.ok());
    db_ = std::move(db.value());
  }
  void exec(const std::string& sql) {
    auto e = sqlite_store::exec(db_.get(), sql.c_str(), "test", path_);
    INFO(sql);
    REQUIRE_FALSE(e.has_value());
  }
  std::int64_t integer(const std::string& sql) {
    auto v = query_int(db_.get(), sql.c_str(), path_);
    INFO(sql);
    REQUIRE(v.ok());
    return v.value();
  }
  sqlite3* get() const { return db_.get(); }

 private:
  std::string path_;
  DbPtr db_;
};

}  // namespace pemx::sqlite_store::test
