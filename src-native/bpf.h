// bpf(2) for cgroup device programs (lib/cgroup/device-bpf.ts): load a program whose instructions
// lib/ built, attach it to a cgroup v2 directory, replace or detach it, and read back what is
// attached. Mechanism only: lib/ builds the instructions and decides what an errno means.
#ifndef NSGROUPS_BPF_H
#define NSGROUPS_BPF_H

#include <napi.h>

// Adds bpfProgLoad, bpfProgAttach, bpfProgDetach, bpfProgQuery, bpfProgGetFdById, bpfProgInfo and
// bpfConstants to `exports`.
void RegisterBpfNatives(Napi::Env env, Napi::Object exports);

#endif
