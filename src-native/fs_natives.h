// Filesystem system calls that Node's fs lacks: mount(2), umount2(2), syncfs(2), the l*xattr(2)
// family, mknod(2) and utimensat(2) with nanoseconds. Thin wrappers, no policy: lib/ validates
// every argument and turns the thrown { errno, syscall } errors into NsgroupsErrors.
#ifndef NSGROUPS_FS_NATIVES_H
#define NSGROUPS_FS_NATIVES_H

#include <napi.h>

// Adds mount, umount2, syncfs, lgetxattr, llistxattr, lsetxattr, mknod, utimensat and
// fsConstants to the module's exports.
void RegisterFsNatives(Napi::Env env, Napi::Object exports);

#endif
