// faceapp-web import / export: known faces in bulk, without starting the server.
//
//   faceapp-web import --data DIR FILE   # CSV "name,e0,...,e127" (header optional) or JSONL
//                                        # {"name": ..., "encoding": [128 numbers]}; FILE "-" reads stdin
//   faceapp-web import --data DIR ENCODINGS.npy --names NAMES.txt
//                                        # numpy (N, 128) float32/float64 and N names, one a line: all rows
//                                        # in one transaction, or none at the first bad row or name (exit 1)
//   faceapp-web export --data DIR        # the same CSV, with a header, on stdout
//
// Invalid rows (wrong number of values, a value that is not a finite number, an empty or over-long name) are
// reported on stderr by line number and skipped; the others are committed in transactions of 50 000 rows.
// Exit status: 0 all rows imported, 2 some rows skipped (the rest imported), 1 nothing could be done.
// A running server sees imported faces after its next start.
#pragma once

#include <string_view>

namespace faceapp_web {

/// Whether argv[1] names a subcommand of this file (then call run_tool instead of starting the server).
inline bool is_tool_command(std::string_view arg) { return arg == "import" || arg == "export"; }

/// `faceapp-web import|export ...`: returns the exit status. Defined in import_export.cpp.
int run_tool(int argc, char** argv);

}  // namespace faceapp_web
