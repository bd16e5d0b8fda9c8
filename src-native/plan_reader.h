// Reading the TypeScript plan into the child's struct nsg_plan (child.h), strictly: every key of
// the schema must be there with its type, and no other key may be. A mismatch throws a TypeError
// that names the key ("plan.ops[2].target must be a string or null, got number"), so that a
// renamed or forgotten field is an error at the first spawn, never a silent default.
#ifndef NSGROUPS_PLAN_READER_H
#define NSGROUPS_PLAN_READER_H

#include <napi.h>

#include <string>
#include <vector>

#include "child.h"

struct SpawnMemory;

// One stdio entry as the plan gives it; spawn.cc turns it into the fd the child installs.
struct StdioEntry {
  const char *kind;  // "pipe" | "fd" | "null"
  int32_t fd;
  int32_t child_reads;
};

// Fills mem.plan from js (throws Napi::TypeError); stdio entries go to `stdio`.
void ReadPlan(Napi::Object js, SpawnMemory &mem, std::vector<StdioEntry> &stdio);

// Reads a hand-over (NSG_HANDOVER_FIELDS) the same way; strings live in `mem`.
void ReadHandover(Napi::Object js, SpawnMemory &mem, nsg_handover_fields &out, std::vector<StdioEntry> &stdio);

// { plan: [[key, type]...], op: [...], join: [...], stdio: [...], rlimit, handover } for the schema test.
Napi::Object PlanSchema(Napi::Env env);

#endif
