// The parent side of a spawn: turns the plan TypeScript built into the child's plan (child.h),
// creates the pipes, clones, and hands back the pid, the parent's pipe ends and a ChildWatch.
#ifndef NSGROUPS_SPAWN_H
#define NSGROUPS_SPAWN_H

#include <napi.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "child.h"

// Everything the child reads before it execs. With CLONE_VM the child reads it from our memory,
// so it lives until no process of the spawn runs our code any more (ChildWatch frees it at EOF of
// the report pipe, or once everything is reaped).
struct SpawnMemory {
  std::deque<std::string> strings;  // a deque never moves its elements: c_str() stays valid
  std::deque<std::vector<const char *>> lists;
  std::deque<std::vector<uint32_t>> numbers;
  std::vector<nsg_op> ops;
  std::vector<nsg_join> joins;
  std::vector<int32_t> stdio;
  std::vector<nsg_rlimit> rlimits;
  std::deque<std::vector<uint8_t>> bytes;
  nsg_plan plan{};
  void *stacks = nullptr;  // one mapping: a guard page under each stack
  size_t stacks_size = 0;
  uint64_t stacks_layout = 0;  // the stacks' sizes (spawn.cc's cache of mappings)

  const char *Keep(std::string s) {
    strings.push_back(std::move(s));
    return strings.back().c_str();
  }
  std::vector<const char *> &NewList() { return lists.emplace_back(); }
  std::vector<uint32_t> &NewNumbers() { return numbers.emplace_back(); }
  ~SpawnMemory();
};

// The memory a parked child reads its command from (struct nsg_handover and what it points to):
// MAP_SHARED, so that a fork-style child sees what the parent writes after the fork. Virtual
// address space only until written (MAP_NORESERVE); big enough for any argv and environment
// execve takes (its limit is a quarter of the stack limit, at most 6 MiB, fs/exec.c).
constexpr size_t kHandoverSize = 8u << 20;
struct HandoverMemory {
  void *base = nullptr;
  size_t size = 0;
  ~HandoverMemory();
};

Napi::Value Spawn(const Napi::CallbackInfo &info);

// The init's executable as a sealed memfd, made once per process; -errno on failure.
int InitExecutableFd();

#endif
