// postgres_store's connection helpers that need no server: the redaction of passwords from
// connection strings and messages, the description of a database, the string check and the
// transient errors.
#include <catch2/catch.hpp>

#include <string>

#include "postgres_store/pg_connection.hpp"

namespace pemx::postgres_store {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("postgres_store: redact masks the password of a URI, of key=value pairs and of "
          "sslpassword",
          "[unit][postgres_store][redaction]") {
  const std::string uri = "postgresql://pemx:s3cr%40t@db.example:5432/pemx?sslmode=require";
  CHECK(redact(uri, uri) == "postgresql://pemx:***@db.example:5432/pemx?sslmode=require");
  // The decoded password too, wherever a message quotes it.
  CHECK(redact("authentication failed for s3cr@t", uri) == "authentication failed for ***");

  const std::string kv = "host=db port=5432 user=pemx password='a b\\'c' sslpassword=keypass";
  const std::string out = redact(kv, kv);
  CHECK(out == "host=db port=5432 user=pemx password=*** sslpassword=***");
  CHECK_THAT(redact("password = hunter2 dbname=x", ""), !Contains("hunter2"));

  // A URI password in a string that is not the configured one (a message quoting another).
  CHECK(redact("could not use postgres://u:other@h/d", "") == "could not use postgres://u:***@h/d");
  // Nothing to hide: unchanged.
  CHECK(redact("host=db user=pemx", "host=db user=pemx") == "host=db user=pemx");
  CHECK(redact("postgresql://pemx@db/pemx", "postgresql://pemx@db/pemx") ==
        "postgresql://pemx@db/pemx");
}

TEST_CASE("postgres_store: describe_connection names user, host, port and database, never "
          "the password",
          "[unit][postgres_store][redaction]") {
  CHECK(describe_connection("postgresql://pemx:pw@127.0.0.1:5433/events") ==
        "pemx@127.0.0.1:5433/events");
  CHECK(describe_connection("host=db.example user=u password=pw dbname=h") == "u@db.example/h");
  CHECK(describe_connection("service=pemx") == "service pemx (default host)/(default database)");
  // A string libpq cannot parse is never echoed.
  const std::string bad = "postgresql://u:topsecret@h:notaport/d?nonsense=1";
  CHECK_THAT(describe_connection(bad), !Contains("topsecret"));
}

TEST_CASE("postgres_store: check_connection_string accepts what libpq parses, rejects the "
          "rest without echoing a password",
          "[unit][postgres_store][redaction]") {
  CHECK_FALSE(check_connection_string("postgresql://u:p@h:5432/d"));
  CHECK_FALSE(check_connection_string("host=h user=u password=p"));
  CHECK_FALSE(check_connection_string("service=pemx sslmode=verify-full sslrootcert=/ca.pem"));
  auto bad = check_connection_string("host=h password=topsecret nosuchkey=1");
  REQUIRE(bad);
  CHECK_THAT(*bad, Contains("nosuchkey"));
  CHECK_THAT(*bad, !Contains("topsecret"));
  // A password with an unescaped '/': libpq would read "u" as the host, "top" as the port
  // and "secret@h:5432/d" as the database, which check-config and the logs then showed.
  auto slash = check_connection_string("postgresql://u:top/secret@h:5432/d?sslmode=require");
  REQUIRE(slash);
  CHECK_THAT(*slash, Contains("%2F"));
  CHECK_THAT(*slash, !Contains("secret"));
  CHECK_FALSE(check_connection_string("postgresql://u:top%2Fsecret@h:5432/d"));
  CHECK_FALSE(check_connection_string("postgresql://h/d?user=a@b"));  // '@' in the query: fine
  CHECK(redact("could not parse postgres://u:top/secret@h/d", "") ==
        "could not parse postgres://u:***@h/d");
  auto unterminated = check_connection_string("host=h password='topsecret");
  REQUIRE(unterminated);
  CHECK_THAT(*unterminated, !Contains("topsecret"));
}

TEST_CASE("postgres_store: lost connections, conflicts, resources and shutdowns are "
          "transient, constraint and syntax errors are not",
          "[unit][postgres_store]") {
  for (const char* code : {"connection_lost", "08006", "08001", "40001", "40P01", "53300",
                           "57P01", "57P03", "55P03", "57014", "53100", "25006"}) {
    CHECK(transient(Error{code, ""}));
  }
  for (const char* code : {"23505", "42601", "42P01", "22021", "postgres_error", "28P01"}) {
    CHECK_FALSE(transient(Error{code, ""}));
  }
}

}  // namespace
}  // namespace pemx::postgres_store
