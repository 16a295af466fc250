// docs/deploying.md's worked configuration, checked as `pemx check-config` checks it, so that
// the guide cannot drift from the config loader. In the guide:
//   - every ```toml block starts with `# file: NAME`; the blocks of one NAME, in order, are
//     that file (the guide shows one file in parts);
//   - every `pemx check-config ...` line of a ```sh block is run as written, its
//     `--config NAME` pointing at that file.
// Each file is also checked on its own. Paths under /etc/pemx/ that the files name (a write
// tokens file) are made in a temporary directory and the text points there instead. A file
// with a postgres_store stage is skipped, with a warning, in a build without that stage. The
// variables the guide's files expand (${PEMX_KAFKA_PASSWORD}) are set as its service's are.
#include <catch2/catch.hpp>

#include <stdlib.h>  // mkdtemp

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "builtin_stages.hpp"
#include "tools/commands.hpp"

namespace pemx::tools {
namespace {

const std::string kGuide = PEMX_SOURCE_DIR "/docs/deploying.md";

struct Guide {
  std::map<std::string, std::string> files;                  // NAME -> text
  std::vector<std::pair<int, std::string>> check_commands;   // (line, command without "pemx ")
  std::vector<std::string> problems;                         // malformed blocks
};

// The guide's toml blocks (by file) and check-config lines.
Guide read_guide(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  Guide g;
  std::string line, lang, file, pending;
  int number = 0, block_start = 0;
  bool in_block = false, first = false;
  while (std::getline(in, line)) {
    ++number;
    if (!in_block) {
      if (line.rfind("```", 0) == 0) {  // a fence without a language is skipped too
        in_block = true;
        first = true;
        lang = line.substr(3);
        block_start = number;
        file.clear();
      }
      continue;
    }
    if (line.rfind("```", 0) == 0) {
      in_block = false;
      continue;
    }
    if (lang == "toml") {
      if (first) {
        first = false;
        if (line.rfind("# file: ", 0) != 0) {
          g.problems.push_back("line " + std::to_string(block_start) +
                               ": a toml block must start with \"# file: NAME\"");
          file = "(unnamed)";
        } else {
          file = line.substr(8);
        }
      }
      g.files[file] += line + "\n";
    } else if (lang == "sh") {
      // Lines continued with a trailing backslash are one command.
      if (!line.empty() && line.back() == '\\') {
        pending += line.substr(0, line.size() - 1) + " ";
        continue;
      }
      std::string command = pending + line;
      pending.clear();
      auto b = command.find_first_not_of(' ');
      if (b != std::string::npos && command.compare(b, 17, "pemx check-config") == 0) {
        g.check_commands.emplace_back(number, command.substr(b + 5));
      }
    }
  }
  return g;
}

// Shell words: blanks separate, '…' and "…" quote (no escapes inside), an unquoted # ends.
std::vector<std::string> shell_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool have = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\'' || c == '"') {
      auto end = text.find(c, i + 1);
      REQUIRE(end != std::string::npos);
      word += text.substr(i + 1, end - i - 1);
      have = true;
      i = end;
    } else if (c == ' ' || c == '\t') {
      if (have) words.push_back(word);
      word.clear();
      have = false;
    } else if (c == '#' && !have) {
      break;
    } else {
      word += c;
      have = true;
    }
  }
  if (have) words.push_back(word);
  return words;
}

struct Run {
  int code = -1;
  std::string out, err;
};

Run check(std::vector<std::string> args) {
  Registry registry = builtin_stages();
  std::istringstream in;
  std::ostringstream out, err;
  Run r;
  r.code = check_config(Invocation{std::move(args), registry, in, out, err, "USAGE\n"});
  r.out = out.str();
  r.err = err.str();
  return r;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pemx-guide-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

TEST_CASE("docs/deploying.md: every config passes pemx check-config", "[unit][tools][docs]") {
  Guide g = read_guide(kGuide);
  for (const auto& p : g.problems) FAIL_CHECK(p);
  REQUIRE(!g.files.empty());
  REQUIRE(!g.check_commands.empty());

  TempDir dir;
  auto etc = dir.path / "etc-pemx";
  std::filesystem::create_directories(etc);
  std::ofstream(etc / "write-tokens") << "# one token per line\n"
                                      << "0123456789abcdef0123456789abcdef\n";
  // The environment the guide's service is given (its EnvironmentFile): the Kafka password.
  REQUIRE(setenv("PEMX_KAFKA_PASSWORD", "from-the-environment", 1) == 0);
  bool have_postgres = builtin_stages().find("postgres_store") != nullptr;
  std::map<std::string, std::string> paths;  // NAME -> the written file
  std::map<std::string, bool> skipped;
  for (auto [name, text] : g.files) {
    replace_all(text, "\"/etc/pemx/", "\"" + etc.string() + "/");
    auto path = (dir.path / std::filesystem::path(name).filename()).string();
    std::ofstream(path) << text;
    paths[name] = path;
    skipped[name] = !have_postgres && text.find("\"postgres_store\"") != std::string::npos;
    if (skipped[name]) {
      WARN("skipped " << name << ": this build has no postgres_store stage");
      continue;
    }
    INFO("docs/deploying.md, file " << name);
    Run r = check({"--config", path});
    INFO(r.err);
    CHECK(r.code == 0);
  }

  for (const auto& [line, command] : g.check_commands) {
    INFO("docs/deploying.md:" << line << ": pemx " << command);
    auto words = shell_words(command);
    REQUIRE(words.size() >= 1);
    std::vector<std::string> args(words.begin() + 1, words.end());
    bool skip = false;
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] != "--config") continue;
      auto it = paths.find(args[i + 1]);
      REQUIRE(it != paths.end());  // --config names a file the guide shows
      skip = skipped[args[i + 1]];
      args[i + 1] = it->second;
    }
    if (skip) continue;
    Run r = check(args);
    INFO(r.err);
    CHECK(r.code == 0);
  }
}

}  // namespace
}  // namespace pemx::tools
