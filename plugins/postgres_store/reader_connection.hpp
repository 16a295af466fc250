#pragma once
// One reader connection: the pool's (PostgresEventReader's blocking queries) or the
// asynchronous history set's (async_history.hpp). Used by one thread at a time: whoever leased
// it.
#include "postgres_store/pg_connection.hpp"

namespace pemx::postgres_store {

struct ReaderConnection {
  ConnPtr conn;
  bool prepared = false;
  bool broken = false;  // a command failed as a lost connection (libpq may still say OK)
  // An asynchronous query was sent and its caller went away before its result was read: the
  // server may still be running it. upkeep() cancels it and drains the result.
  bool abandoned = false;
};

}  // namespace pemx::postgres_store
