#include "sqlite_store/sqlite_import.hpp"

namespace pemx::sqlite_store {

int run_import(const std::vector<std::string>& operands, std::istream& in, std::ostream& err,
               const ImportOptions& options) {
  auto open = [&options]() -> Result<std::unique_ptr<store::Backend>> {
    StoreOptions store_options = options.store;
    store_options.reader_connections = 1;  // the writer is what the import uses
    auto opened = SqliteEventStore::open(store_options);
    if (!opened) return opened.error();
    return std::unique_ptr<store::Backend>(std::move(opened.value()));
  };
  return store::run_import(operands, in, err, options, open);
}

}  // namespace pemx::sqlite_store
