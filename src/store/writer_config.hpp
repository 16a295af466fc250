#pragma once
// The writer's config keys, the same in every store stage's section (docs/configuration.md):
// input, acks, batch_size, batch_linger, validation, dead_letter_topic, retry_initial,
// retry_max, give_up_after, properties. For factories only: the writer takes WriterSettings.
#include "core/config.hpp"
#include "core/config_section.hpp"
#include "store/writer.hpp"

namespace pemx::store {

// Reads those keys into `settings` (defaults: its current values), with [kafka] and [events]
// from `common`; every error goes to the section, under its key.
void parse_writer_settings(ConfigSection& section, const CommonConfig& common,
                           WriterSettings& settings);

}  // namespace pemx::store
