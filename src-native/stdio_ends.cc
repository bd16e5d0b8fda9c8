#include "stdio_ends.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "sys_error.h"

StdioEnds MakeStdioEnds(Napi::Env env, const std::vector<StdioEntry> &stdio, OwnedFds &owned, OwnedFds &parent_owned,
                        int report_fd) {
  StdioEnds ends;
  const int n = (int)stdio.size();
  ends.parent.assign(n, -1);
  int devnull = -1;
  for (int i = 0; i < n; i++) {
    const std::string kind = stdio[i].kind ? stdio[i].kind : "";
    int child_end = -1;
    if (kind == "pipe") {
      int p[2];
      if (pipe2(p, O_CLOEXEC) < 0) throw NsgSystemError(env, errno, "pipe2");
      bool child_reads = stdio[i].child_reads;
      child_end = owned.Add(child_reads ? p[0] : p[1]);
      ends.parent[i] = parent_owned.Add(child_reads ? p[1] : p[0]);
    } else if (kind == "fd") {
      child_end = stdio[i].fd;
      if (fcntl(child_end, F_GETFD) < 0) throw NsgSystemError(env, errno, "fcntl");
    } else if (kind == "null") {
      if (devnull < 0) devnull = owned.Add(open("/dev/null", O_RDWR | O_CLOEXEC));
      if (devnull < 0) throw NsgSystemError(env, errno, "open");
      child_end = devnull;
    } else if (kind == "report" && report_fd >= 0) {
      // Tests only (lib/ never plans it): the command gets the report pipe's write end, to show
      // what the parent does with records it did not expect (test/hostile.reports.test.ts).
      child_end = report_fd;
    } else {
      throw Napi::TypeError::New(env, "spawn plan: stdio[" + std::to_string(i) + "].kind must be 'pipe', 'fd', 'null'" +
                                          (report_fd >= 0 ? " or 'report'" : ""));
    }
    ends.child.push_back(child_end);
  }
  return ends;
}
