// handOver(handle, command): gives a parked sandbox (plan.park) its command. The command is
// written into the memory the parked process shares with us (struct nsg_handover, child.h), its
// stdio fds go with the one message on the sync socket; the process then chdirs, finds the
// command, installs the fds and execs, reporting on the report pipe as any spawn does.
#ifndef NSGROUPS_HANDOVER_H
#define NSGROUPS_HANDOVER_H

#include <napi.h>

class ChildWatch;

// Returns { stdio: the parent's end of each 'pipe' entry, -1 for the others }. Throws a system
// error with errno ESRCH when the sandbox is not parked (or was handed its command already),
// E2BIG when the command does not fit, or the errno of sendmsg; nothing is left open then.
Napi::Value HandOver(Napi::Env env, ChildWatch *watch, Napi::Value command);

#endif
