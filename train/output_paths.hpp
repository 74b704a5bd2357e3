#pragma once
// Where a run writes (output.file, output.checkpoint), checked before anything is written: lpt
// writes regular HDF5 files only, never over a file that is not one, never the record and the
// checkpoint into one file, and never under a path component that is a file.
#include <string>

namespace lpt {

// What lpt writes at a path, and so what it may replace there.
enum class OutputKind { record, checkpoint };

// Throws lpt::Error naming the key, the path and the fix. `key` is the config key ("output.file"),
// `path` its value (empty: nothing is written, nothing to check). An existing file is accepted
// when it is an lpt file of `kind` (a rerun replaces its own record); another HDF5 file only
// with `overwrite` (output.overwrite); anything else never.
void check_output_path(const std::string& key, const std::string& path, OutputKind kind,
                       bool overwrite = false);

// Both keys together: each checked alone, and not the same file (through links and "..").
void check_output_paths(const std::string& record, const std::string& checkpoint,
                        bool overwrite = false);

// Where output.keep_checkpoints keeps the checkpoint of `step`: "a/run.ckpt.h5" ->
// "a/run.ckpt.step500.h5" (".h5" kept last so that HDF5 tools and h5py globs find it).
std::string kept_checkpoint_path(const std::string& checkpoint, long step);

}  // namespace lpt
