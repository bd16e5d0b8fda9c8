#include "handover.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "child_watch.h"
#include "owned_fds.h"
#include "plan_reader.h"
#include "spawn.h"
#include "stdio_ends.h"
#include "sys_error.h"

namespace {

// Lays the command out in the shared mapping: the header, then pointer arrays and strings, each
// placed at the next free (aligned) byte. Pointers are the mapping's own addresses, the same in
// the parked process.
class Layout {
 public:
  explicit Layout(HandoverMemory &mem) : base_(static_cast<char *>(mem.base)), size_(mem.size) {}

  void *Take(size_t bytes, size_t align) {
    size_t at = (used_ + align - 1) & ~(align - 1);
    if (at > size_ || bytes > size_ - at) {
      fits_ = false;
      return nullptr;
    }
    used_ = at + bytes;
    return base_ + at;
  }
  const char *String(const char *s) {
    size_t n = strlen(s) + 1;
    char *out = static_cast<char *>(Take(n, 1));
    if (out) memcpy(out, s, n);
    return out;
  }
  char *const *Strings(char *const *list, int count) {
    char **out = static_cast<char **>(Take(sizeof(char *) * (count + 1), alignof(char *)));
    if (!out) return nullptr;
    for (int i = 0; i < count; i++) out[i] = const_cast<char *>(String(list[i]));
    out[count] = nullptr;
    return out;
  }
  bool fits() const { return fits_; }

 private:
  char *base_;
  size_t size_, used_ = 0;
  bool fits_ = true;
};

}  // namespace

Napi::Value HandOver(Napi::Env env, ChildWatch *watch, Napi::Value command) {
  if (!command.IsObject()) throw Napi::TypeError::New(env, "handOver(command): command must be an object");
  HandoverMemory *shared = watch ? watch->ParkedMemory() : nullptr;
  if (!shared) throw NsgSystemError(env, ESRCH, "handover", "the sandbox is not parked, or has its command already");

  SpawnMemory read;  // the strings as JS gave them, until they are copied into the mapping
  nsg_handover_fields fields{};
  std::vector<StdioEntry> stdio;
  ReadHandover(command.As<Napi::Object>(), read, fields, stdio);
  if (stdio.size() > NSG_MAX_STDIO) throw Napi::RangeError::New(env, "handover: at most 64 stdio entries");
  if (fields.inherit_env) {
    if (fields.envp_count) throw Napi::TypeError::New(env, "handover: inheritEnv with a non-empty envp");
    std::vector<const char *> &copy = read.NewList();
    for (char **e = environ; e && *e; e++) copy.push_back(read.Keep(*e));
    fields.envp_count = (int32_t)copy.size();
    copy.push_back(nullptr);
    fields.envp = const_cast<char *const *>(copy.data());
  }

  OwnedFds owned, parent_owned;
  StdioEnds ends = MakeStdioEnds(env, stdio, owned, parent_owned, -1);
  // each distinct child end travels once; stdio[i] names its place in the message
  std::vector<int> fds;
  Layout layout(*shared);
  auto *h = static_cast<nsg_handover *>(layout.Take(sizeof(nsg_handover), alignof(nsg_handover)));
  h->magic = 0;
  h->stdio_count = (int32_t)ends.child.size();
  for (size_t i = 0; i < ends.child.size(); i++) {
    int fd = ends.child[i], k = -1;
    for (size_t j = 0; fd >= 0 && j < fds.size() && k < 0; j++)
      if (fds[j] == fd) k = (int)j;
    if (fd >= 0 && k < 0) {
      k = (int)fds.size();
      fds.push_back(fd);
    }
    h->stdio[i] = k;
  }
  h->fds_count = (int32_t)fds.size();
  h->cwd = fields.cwd ? layout.String(fields.cwd) : nullptr;
  h->candidates = layout.Strings(fields.candidates, fields.candidates_count);
  h->candidates_count = fields.candidates_count;
  h->argv = layout.Strings(fields.argv, fields.argv_count);
  h->envp = layout.Strings(fields.envp, fields.envp_count);
  if (!layout.fits())
    throw NsgSystemError(env, E2BIG, "handover",
                         "the arguments and environment exceed " + std::to_string(shared->size >> 20) + " MiB");
  h->magic = NSG_HANDOVER_MAGIC;

  int r = watch->SendHandover(fds);
  if (r < 0) throw NsgSystemError(env, -r, "sendmsg");
  // Sent: the parent ends are the caller's; the child ends close with `owned` (it has its own).
  Napi::Array out = Napi::Array::New(env, ends.parent.size());
  for (size_t i = 0; i < ends.parent.size(); i++) {
    parent_owned.Keep(ends.parent[i]);
    out.Set((uint32_t)i, Napi::Number::New(env, ends.parent[i]));
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("stdio", out);
  return result;
}
