// Relative file paths in the config (ConfigSection::config_relative): a token file, a TLS file
// and a schema are read relative to the config file's folder, in the file and in a --set,
// whatever the working directory (the tests run in the build folder, never the config's).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "builtin_stages.hpp"
#include "core/config.hpp"
#include "core/config_section.hpp"
#include "support/config_fixture.hpp"

namespace pemx {
namespace {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("config_relative: relative to the config file's folder; absolute and empty as they are",
          "[unit][config]") {
  std::vector<ConfigError> errors;
  ConfigSection in_folder(nullptr, "stages.http", "/etc/pemx/pemx.toml", &errors);
  CHECK(in_folder.config_relative("secrets/tokens") == "/etc/pemx/secrets/tokens");
  CHECK(in_folder.config_relative("/var/lib/pemx/tokens") == "/var/lib/pemx/tokens");
  CHECK(in_folder.config_relative("") == "");
  ConfigSection here(nullptr, "stages.http", "pemx.toml", &errors);  // --config pemx.toml
  CHECK(here.config_relative("tokens") == "tokens");
  ConfigSection relative(nullptr, "stages.http", "conf/pemx.toml", &errors);
  CHECK(relative.config_relative("tokens") == "conf/tokens");
}

// A config folder that is not the working directory, holding pemx.toml's dist part with an
// http stage, and the files it names.
struct ConfigFolder {
  ConfigFolder() {
    dir = fs::temp_directory_path() / ("pemx-config-paths-" + std::to_string(::getpid()));
    fs::create_directories(dir / "secrets");
    REQUIRE(fs::current_path() != dir);
    write("secrets/tokens", "ci:writer:ci-token-0123456789abcdef\n");
    write("secrets/admin", "admin-token-0123456789abcdef\n");
    write("secrets/one", "one-token-0123456789abcdef\n");
    write("not-a-cert.pem", "not PEM\n");
    write("country.json", R"({"type": "object"})");
  }
  ~ConfigFolder() { fs::remove_all(dir); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
  }
  LoadResult load(const std::string& text, const std::vector<std::string>& sets = {}) {
    write("pemx.toml", text);
    return load_config((dir / "pemx.toml").string(), sets, registry);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }

  fs::path dir;
  Registry registry = builtin_stages();
};

// An http stage (its listen: the [http] alias of kPemxToml) in no role.
const std::string kHttp = R"(
[stages.http]
type = "http_front"
)";

std::string errors_of(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

TEST_CASE("token files, TLS files and schemas are read relative to the config file's folder",
          "[unit][config][http]") {
  ConfigFolder folder;
  const std::string base(test::kPemxToml);
  SECTION("in the file") {
    auto r = folder.load(base + kHttp +
                         "tokens_file = \"secrets/tokens\"\n"
                         "admin_tokens_file = \"secrets/admin\"\n"
                         "write_tokens_file = \"secrets/tokens-w\"\n"
                         "[[stages.http.tokens]]\nname = \"one\"\ntoken_file = \"secrets/one\"\n"
                         "roles = [\"reader\"]\n"
                         "[schemas]\nCountry = \"country.json\"\n");
    // Every file but the missing one was found next to the config; that one is named with the
    // folder it was looked for in.
    CHECK_THAT(errors_of(r), Contains("stages.http.write_tokens_file: cannot read \"" +
                                      folder.path("secrets/tokens-w") + "\""));
    CHECK(r.errors.size() == 1);
    folder.write("secrets/tokens-w", "writer-token-0123456789abcdef\n");
    auto ok = folder.load(base + kHttp + "tokens_file = \"secrets/tokens\"\n"
                                         "write_tokens_file = \"secrets/tokens-w\"\n");
    INFO(errors_of(ok));
    CHECK(ok.config);
  }
  SECTION("in a --set") {
    auto r = folder.load(base + kHttp, {"stages.http.tokens_file=secrets/tokens"});
    INFO(errors_of(r));
    CHECK(r.config);
  }
  SECTION("TLS files: the certificate read from the config's folder (and found not PEM)") {
    auto r = folder.load(base + kHttp + "tls_cert_file = \"not-a-cert.pem\"\n"
                                        "tls_key_file = \"not-a-cert.pem\"\n");
    CHECK_THAT(errors_of(r), Contains("\"" + folder.path("not-a-cert.pem") +
                                      "\" is not a PEM certificate"));
  }
  SECTION("an absolute path as it is") {
    auto r = folder.load(base + kHttp + "tokens_file = \"" + folder.path("secrets/tokens") +
                         "\"\n");
    INFO(errors_of(r));
    CHECK(r.config);
  }
}

}  // namespace
}  // namespace pemx
