// cgroup v1 notifications: an eventfd polled on the environment's own loop (uv_poll; the loop of
// napi_get_uv_event_loop, so it works in worker threads too). TypeScript registers the eventfd
// with the kernel by writing "<eventfd> <fd of memory.oom_control>" to cgroup.event_control
// (Documentation/admin-guide/cgroup-v1/memory.rst, "OOM Control"); here we only wait and read.
//
// JS: new EventfdWatch(callback) → { fd, close(), ref(), unref() }; callback(count) per wakeup,
// with the eventfd counter (how many notifications arrived since the last read).
#ifndef NSGROUPS_CGROUP_EVENTFD_H
#define NSGROUPS_CGROUP_EVENTFD_H

#include <napi.h>

void RegisterCgroupNatives(Napi::Env env, Napi::Object exports);

#endif
