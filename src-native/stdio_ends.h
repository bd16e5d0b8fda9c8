// The stdio of a command, as a plan or a hand-over lists it: for each fd i, what the child
// installs there (a new pipe's end, one of the caller's fds, /dev/null) and the caller's end.
#ifndef NSGROUPS_STDIO_ENDS_H
#define NSGROUPS_STDIO_ENDS_H

#include <napi.h>

#include <vector>

#include "owned_fds.h"
#include "plan_reader.h"

struct StdioEnds {
  std::vector<int> child;  // fd i of the command <- child[i], -1 = closed
  std::vector<int> parent;  // the caller's end of each 'pipe' entry, -1 for the others
};

// Creates what `stdio` asks for. Child ends (and /dev/null) go to `owned`, closed when the
// caller is done; parent ends go to `parent_owned`, closed unless the caller keeps them.
// `report_fd` is the child's report pipe end, for the tests-only kind 'report' (-1: refused).
// Throws a Napi error (a system error or a TypeError naming the entry).
StdioEnds MakeStdioEnds(Napi::Env env, const std::vector<StdioEntry> &stdio, OwnedFds &owned, OwnedFds &parent_owned,
                        int report_fd);

#endif
