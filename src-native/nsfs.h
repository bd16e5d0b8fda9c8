// Namespace file (nsfs) operations for lib/namespace: the NS_GET_* ioctls of ioctl_ns(2) and
// the bind mount that pins a namespace to a file (as `ip netns add` does).
#ifndef NSGROUPS_NSFS_H
#define NSGROUPS_NSFS_H

#include <napi.h>

// Adds nsGetType, nsGetUserns, nsGetParent, nsGetOwnerUid, nsPin, nsUnpin to `exports`.
void RegisterNsfsNatives(Napi::Env env, Napi::Object exports);

#endif
