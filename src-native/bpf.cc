// bpf(2) commands for cgroup device programs (see bpf.h). Each function is one command (the
// query and the info reader: a size probe, then the read) and throws an Error carrying `errno`
// (negative) and `syscall`. File descriptors the kernel returns are close-on-exec
// (kernel/bpf/syscall.c bpf_prog_new_fd); lib/ closes them.
#include "bpf.h"

#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "sys_error.h"

namespace {

long Bpf(int cmd, union bpf_attr *attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

uint64_t Ptr(const void *p) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p));
}

// The end of the verifier's log (its last lines say why a program was refused).
std::string VerifierLog(union bpf_attr attr) {
  std::vector<char> log(1 << 16);
  for (;;) {
    log[0] = '\0';
    attr.log_level = 1;
    attr.log_buf = Ptr(log.data());
    attr.log_size = static_cast<uint32_t>(log.size());
    long fd = Bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0) {
      close(static_cast<int>(fd));
      return "";  // it loaded this time: no reason to give
    }
    if (errno != ENOSPC || log.size() >= (1u << 22)) break;
    log.resize(log.size() * 4);
  }
  log.back() = '\0';
  std::string text(log.data());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text.size() > 1000 ? "…" + text.substr(text.size() - 1000) : text;
}

// bpfProgLoad(type, insns, license, name): BPF_PROG_LOAD; returns the program's fd.
Napi::Value ProgLoad(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int type = NsgIntArg(info, 0);
  if (info.Length() < 2 || !info[1].IsBuffer()) throw Napi::TypeError::New(env, "insns must be a Buffer");
  Napi::Buffer<uint8_t> insns = info[1].As<Napi::Buffer<uint8_t>>();
  std::string license = NsgStringArg(info, 2), name = NsgStringArg(info, 3);
  if (insns.Length() % sizeof(struct bpf_insn) != 0)
    throw Napi::RangeError::New(env, "insns is not a whole number of instructions");

  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = type;
  attr.insns = Ptr(insns.Data());
  attr.insn_cnt = static_cast<uint32_t>(insns.Length() / sizeof(struct bpf_insn));
  attr.license = Ptr(license.c_str());
  strncpy(attr.prog_name, name.c_str(), sizeof(attr.prog_name) - 1);
  long fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) {
    int err = errno;
    // EACCES / EINVAL from the verifier: load again with a log, for the reason
    std::string log = (err == EACCES || err == EINVAL) ? VerifierLog(attr) : "";
    throw NsgSystemError(env, err, "bpf", log.empty() ? "BPF_PROG_LOAD" : "BPF_PROG_LOAD: " + log);
  }
  return Napi::Number::New(env, static_cast<double>(fd));
}

// bpfProgAttach(targetFd, progFd, attachType, flags, replaceFd): BPF_PROG_ATTACH; replaceFd -1
// for none (with BPF_F_REPLACE it names the program to swap out atomically, Linux 5.6).
Napi::Value ProgAttach(const Napi::CallbackInfo &info) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = NsgIntArg(info, 0);
  attr.attach_bpf_fd = NsgIntArg(info, 1);
  attr.attach_type = NsgIntArg(info, 2);
  attr.attach_flags = NsgIntArg(info, 3);
  int replace = NsgIntArg(info, 4);
  if (replace >= 0) attr.replace_bpf_fd = replace;
  if (Bpf(BPF_PROG_ATTACH, &attr) < 0) throw NsgSystemError(info.Env(), errno, "bpf", "BPF_PROG_ATTACH");
  return info.Env().Undefined();
}

// bpfProgDetach(targetFd, progFd, attachType): BPF_PROG_DETACH of that one program.
Napi::Value ProgDetach(const Napi::CallbackInfo &info) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = NsgIntArg(info, 0);
  attr.attach_bpf_fd = NsgIntArg(info, 1);
  attr.attach_type = NsgIntArg(info, 2);
  if (Bpf(BPF_PROG_DETACH, &attr) < 0) throw NsgSystemError(info.Env(), errno, "bpf", "BPF_PROG_DETACH");
  return info.Env().Undefined();
}

// bpfProgQuery(targetFd, attachType): BPF_PROG_QUERY of the programs attached to this cgroup
// itself (not the effective ones inherited from ancestors) → { attachFlags, ids }.
Napi::Value ProgQuery(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int target = NsgIntArg(info, 0), type = NsgIntArg(info, 1);
  std::vector<uint32_t> ids;
  union bpf_attr attr;
  for (int attempt = 0;; attempt++) {
    if (attempt == 8) throw NsgSystemError(env, EAGAIN, "bpf", "BPF_PROG_QUERY: the attached programs kept changing");
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = target;
    attr.query.attach_type = type;
    attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
    attr.query.prog_ids = ids.empty() ? 0 : Ptr(ids.data());
    if (Bpf(BPF_PROG_QUERY, &attr) < 0) {
      // ENOSPC: a program was attached between the count and the read; count again
      if (errno == ENOSPC) {
        ids.assign(attr.query.prog_cnt + 4, 0);
        continue;
      }
      throw NsgSystemError(env, errno, "bpf", "BPF_PROG_QUERY");
    }
    if (attr.query.prog_cnt <= ids.size() && (!ids.empty() || attr.query.prog_cnt == 0)) break;
    ids.assign(attr.query.prog_cnt, 0);  // the first call only counted them
  }
  Napi::Array list = Napi::Array::New(env, attr.query.prog_cnt);
  for (uint32_t i = 0; i < attr.query.prog_cnt; i++) list.Set(i, Napi::Number::New(env, ids[i]));
  Napi::Object out = Napi::Object::New(env);
  out.Set("attachFlags", Napi::Number::New(env, attr.query.attach_flags));
  out.Set("ids", list);
  return out;
}

// bpfProgGetFdById(id): BPF_PROG_GET_FD_BY_ID; ENOENT when it is gone.
Napi::Value ProgGetFdById(const Napi::CallbackInfo &info) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_id = static_cast<uint32_t>(NsgIntArg(info, 0));
  long fd = Bpf(BPF_PROG_GET_FD_BY_ID, &attr);
  if (fd < 0) throw NsgSystemError(info.Env(), errno, "bpf", "BPF_PROG_GET_FD_BY_ID");
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

int GetInfo(int fd, struct bpf_prog_info *prog) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.info.bpf_fd = fd;
  attr.info.info_len = sizeof(*prog);
  attr.info.info = Ptr(prog);
  return Bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) < 0 ? errno : 0;
}

// bpfProgInfo(fd): BPF_OBJ_GET_INFO_BY_FD → { type, id, name, tag, insns }. insns are the
// instructions as the verifier left them, or null when the kernel withholds them
// (kernel.kptr_restrict, kernel/bpf/syscall.c bpf_dump_raw_ok).
Napi::Value ProgInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = NsgIntArg(info, 0);
  struct bpf_prog_info prog;
  memset(&prog, 0, sizeof(prog));
  if (int err = GetInfo(fd, &prog)) throw NsgSystemError(env, err, "bpf", "BPF_OBJ_GET_INFO_BY_FD");
  std::vector<uint8_t> insns(prog.xlated_prog_len);
  bool withInsns = false;
  if (!insns.empty()) {
    uint32_t len = prog.xlated_prog_len;
    memset(&prog, 0, sizeof(prog));
    prog.xlated_prog_len = len;
    prog.xlated_prog_insns = Ptr(insns.data());
    if (int err = GetInfo(fd, &prog)) throw NsgSystemError(env, err, "bpf", "BPF_OBJ_GET_INFO_BY_FD");
    withInsns = prog.xlated_prog_insns != 0 && prog.xlated_prog_len <= len;
  }
  static const char hex[] = "0123456789abcdef";
  std::string tag;
  for (uint8_t byte : prog.tag) tag += {hex[byte >> 4], hex[byte & 15]};
  Napi::Object out = Napi::Object::New(env);
  out.Set("type", Napi::Number::New(env, prog.type));
  out.Set("id", Napi::Number::New(env, prog.id));
  out.Set("name", Napi::String::New(env, std::string(prog.name, strnlen(prog.name, sizeof(prog.name)))));
  out.Set("tag", Napi::String::New(env, tag));
  out.Set("insns", withInsns ? Napi::Buffer<uint8_t>::Copy(env, insns.data(), prog.xlated_prog_len).As<Napi::Value>()
                             : env.Null());
  return out;
}

}  // namespace

void RegisterBpfNatives(Napi::Env env, Napi::Object exports) {
  exports.Set("bpfProgLoad", Napi::Function::New(env, ProgLoad));
  exports.Set("bpfProgAttach", Napi::Function::New(env, ProgAttach));
  exports.Set("bpfProgDetach", Napi::Function::New(env, ProgDetach));
  exports.Set("bpfProgQuery", Napi::Function::New(env, ProgQuery));
  exports.Set("bpfProgGetFdById", Napi::Function::New(env, ProgGetFdById));
  exports.Set("bpfProgInfo", Napi::Function::New(env, ProgInfo));
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("BPF_PROG_TYPE_CGROUP_DEVICE", static_cast<int>(BPF_PROG_TYPE_CGROUP_DEVICE));
  constants.Set("BPF_CGROUP_DEVICE", static_cast<int>(BPF_CGROUP_DEVICE));
  constants.Set("BPF_F_ALLOW_MULTI", static_cast<int>(BPF_F_ALLOW_MULTI));
  constants.Set("BPF_F_REPLACE", static_cast<int>(BPF_F_REPLACE));
  exports.Set("bpfConstants", constants);
}
