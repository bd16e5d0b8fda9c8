// The strict reader of the spawn plan, generated from the schema in child.h.
#include "plan_reader.h"

#include <cmath>
#include <cstring>

#include "spawn.h"

namespace {

const char *TypeOf(Napi::Value v) {
  switch (v.Type()) {
  case napi_undefined:
    return "undefined";
  case napi_null:
    return "null";
  case napi_boolean:
    return "boolean";
  case napi_number:
    return "number";
  case napi_string:
    return "string";
  case napi_object:
    return v.IsArray() ? "array" : "object";
  default:
    return "another type";
  }
}

class Reader {
 public:
  Reader(Napi::Env env, SpawnMemory &mem) : env_(env), mem_(mem) {}

  [[noreturn]] void Fail(const std::string &name, const char *want, Napi::Value got) {
    throw Napi::TypeError::New(env_, "spawn plan: " + name + " must be " + want + ", got " + TypeOf(got));
  }
  [[noreturn]] void Fail(const std::string &where, const char *key, const char *want, Napi::Value got) {
    Fail(where + "." + key, want, got);
  }

  // Every key of the schema, nothing else: the object's own enumerable string keys, compared with
  // the schema's without allocating (this runs for every op of every spawn). Own names are
  // unique, so `n` known ones mean that none is missing.
  void CheckKeys(Napi::Object obj, const std::string &where, const char *const *keys, size_t n) {
    napi_value raw;
    napi_status st = napi_get_all_property_names(
        env_, obj, napi_key_own_only, static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols),
        napi_key_numbers_to_strings, &raw);
    NAPI_THROW_IF_FAILED_VOID(env_, st);
    Napi::Array names(env_, raw);
    const uint32_t count = names.Length();
    char buf[64];
    for (uint32_t i = 0; i < count; i++) {
      Napi::Value name = names.Get(i);
      size_t len = 0;
      st = napi_get_value_string_utf8(env_, name, buf, sizeof buf, &len);
      NAPI_THROW_IF_FAILED_VOID(env_, st);
      bool known = len + 1 < sizeof buf;  // a key as long as the buffer is no key of ours
      if (known) {
        known = false;
        for (size_t j = 0; j < n && !known; j++) known = std::strcmp(buf, keys[j]) == 0;
      }
      if (!known)
        throw Napi::TypeError::New(
            env_, "spawn plan: " + where + " has an unknown key '" + name.As<Napi::String>().Utf8Value() + "'");
    }
    if (count == n) return;
    for (size_t i = 0; i < n; i++)
      if (!obj.HasOwnProperty(keys[i]))
        throw Napi::TypeError::New(env_, "spawn plan: " + where + " lacks the key '" + keys[i] + "'");
  }

  int32_t BOOL(Napi::Object o, const std::string &w, const char *k) {
    Napi::Value v = o.Get(k);
    if (!v.IsBoolean()) Fail(w, k, "a boolean", v);
    return v.As<Napi::Boolean>().Value() ? 1 : 0;
  }
  // the field's name is built only for the error (these run for every field of every op)
  double Integer(Napi::Value v, const std::string &w, const char *k, double lo, double hi, const char *want) {
    if (!v.IsNumber()) Fail(w, k, want, v);
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= lo && d <= hi) || std::floor(d) != d) Fail(w, k, want, v);
    return d;
  }
  int32_t I32(Napi::Object o, const std::string &w, const char *k) {
    return (int32_t)Integer(o.Get(k), w, k, -2147483648.0, 2147483647.0, "a 32-bit integer");
  }
  uint32_t U32(Napi::Object o, const std::string &w, const char *k) {
    return (uint32_t)Integer(o.Get(k), w, k, 0, 4294967295.0, "an unsigned 32-bit integer");
  }
  uint64_t U64(Napi::Object o, const std::string &w, const char *k) {
    return (uint64_t)Integer(o.Get(k), w, k, 0, 9007199254740991.0, "a non-negative integer below 2^53");
  }
  const char *STR(Napi::Object o, const std::string &w, const char *k) {
    Napi::Value v = o.Get(k);
    if (v.IsNull()) return nullptr;
    if (!v.IsString()) Fail(w, k, "a string or null", v);
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.find('\0') != std::string::npos) Fail(w, k, "a string without NUL bytes", v);
    return mem_.Keep(std::move(s));
  }
  Napi::Array Array(Napi::Object o, const std::string &w, const char *k) {
    Napi::Value v = o.Get(k);
    if (!v.IsArray()) Fail(w, k, "an array", v);
    return v.As<Napi::Array>();
  }
  char *const *STRS(Napi::Object o, const std::string &w, const char *k, int32_t *count) {
    Napi::Array a = Array(o, w, k);
    std::vector<const char *> &out = mem_.NewList();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsString()) Fail(w, (std::string(k) + "[" + std::to_string(i) + "]").c_str(), "a string", v);
      out.push_back(mem_.Keep(v.As<Napi::String>().Utf8Value()));
    }
    *count = (int32_t)out.size();
    out.push_back(nullptr);
    return const_cast<char *const *>(out.data());
  }
  const uint32_t *U32S(Napi::Object o, const std::string &w, const char *k, int32_t *count) {
    Napi::Array a = Array(o, w, k);
    std::vector<uint32_t> &out = mem_.NewNumbers();
    for (uint32_t i = 0; i < a.Length(); i++) {
      std::string key = std::string(k) + "[" + std::to_string(i) + "]";  // short lists (groups)
      out.push_back((uint32_t)Integer(a.Get(i), w, key.c_str(), 0, 4294967295.0, "an unsigned 32-bit integer"));
    }
    *count = (int32_t)out.size();
    return out.data();
  }
  Napi::Object Entry(Napi::Array a, uint32_t i, const std::string &where) {
    Napi::Value v = a.Get(i);
    if (!v.IsObject() || v.IsArray())
      throw Napi::TypeError::New(env_, "spawn plan: " + where + " must be an object, got " + TypeOf(v));
    return v.As<Napi::Object>();
  }

  const uint8_t *BYTES(Napi::Object o, const std::string &w, const char *k, int32_t *count) {
    Napi::Value v = o.Get(k);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) Fail(w, k, "a Buffer", v);
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    std::vector<uint8_t> &out = mem_.bytes.emplace_back(a.Data(), a.Data() + a.ByteLength());
    *count = (int32_t)out.size();
    return out.data();
  }

  const nsg_op *OPS(Napi::Object o, const std::string &w, const char *k, int32_t *count);
  const nsg_rlimit *RLIMITS(Napi::Object o, const std::string &w, const char *k, int32_t *count);
  const nsg_join *JOINS(Napi::Object o, const std::string &w, const char *k, int32_t *count);
  void STDIO(Napi::Object o, const std::string &w, const char *k, std::vector<StdioEntry> &out);

 private:
  Napi::Env env_;
  SpawnMemory &mem_;
};

#define NSG_KEY(type, name, key) key,
const char *const kPlanKeys[] = {NSG_PLAN_FIELDS(NSG_KEY)};
const char *const kOpKeys[] = {NSG_OP_FIELDS(NSG_KEY)};
const char *const kJoinKeys[] = {NSG_JOIN_FIELDS(NSG_KEY)};
const char *const kStdioKeys[] = {NSG_STDIO_FIELDS(NSG_KEY)};
const char *const kRlimitKeys[] = {NSG_RLIMIT_FIELDS(NSG_KEY)};
const char *const kHandoverKeys[] = {NSG_HANDOVER_FIELDS(NSG_KEY)};
#undef NSG_KEY

// One generated statement per field: scalars are assigned, lists also set NAME_count.
#define NSG_READ_BOOL(n, k) out.n = r.BOOL(obj, where, k);
#define NSG_READ_I32(n, k) out.n = r.I32(obj, where, k);
#define NSG_READ_U32(n, k) out.n = r.U32(obj, where, k);
#define NSG_READ_U64(n, k) out.n = r.U64(obj, where, k);
#define NSG_READ_STR(n, k) out.n = r.STR(obj, where, k);
#define NSG_READ_STRS(n, k) out.n = r.STRS(obj, where, k, &out.n##_count);
#define NSG_READ_U32S(n, k) out.n = r.U32S(obj, where, k, &out.n##_count);
#define NSG_READ_OPS(n, k) out.n = r.OPS(obj, where, k, &out.n##_count);
#define NSG_READ_JOINS(n, k) out.n = r.JOINS(obj, where, k, &out.n##_count);
#define NSG_READ_STDIO(n, k) r.STDIO(obj, where, k, stdio);
#define NSG_READ_BYTES(n, k) out.n = r.BYTES(obj, where, k, &out.n##_count);
#define NSG_READ_RLIMITS(n, k) out.n = r.RLIMITS(obj, where, k, &out.n##_count);
#define NSG_READ(type, name, key) NSG_READ_##type(name, key)

const nsg_op *Reader::OPS(Napi::Object o, const std::string &w, const char *k, int32_t *count) {
  Napi::Array a = Array(o, w, k);
  Reader &r = *this;
  for (uint32_t i = 0; i < a.Length(); i++) {
    std::string where = w + "." + k + "[" + std::to_string(i) + "]";
    Napi::Object obj = Entry(a, i, where);
    CheckKeys(obj, where, kOpKeys, sizeof kOpKeys / sizeof *kOpKeys);
    nsg_op out{};
    NSG_OP_FIELDS(NSG_READ)
    mem_.ops.push_back(out);
  }
  *count = (int32_t)mem_.ops.size();
  return mem_.ops.data();
}

const nsg_rlimit *Reader::RLIMITS(Napi::Object o, const std::string &w, const char *k, int32_t *count) {
  Napi::Array a = Array(o, w, k);
  Reader &r = *this;
  for (uint32_t i = 0; i < a.Length(); i++) {
    std::string where = w + "." + k + "[" + std::to_string(i) + "]";
    Napi::Object obj = Entry(a, i, where);
    CheckKeys(obj, where, kRlimitKeys, sizeof kRlimitKeys / sizeof *kRlimitKeys);
    nsg_rlimit out{};
    NSG_RLIMIT_FIELDS(NSG_READ)
    mem_.rlimits.push_back(out);
  }
  *count = (int32_t)mem_.rlimits.size();
  return mem_.rlimits.data();
}

const nsg_join *Reader::JOINS(Napi::Object o, const std::string &w, const char *k, int32_t *count) {
  Napi::Array a = Array(o, w, k);
  Reader &r = *this;
  for (uint32_t i = 0; i < a.Length(); i++) {
    std::string where = w + "." + k + "[" + std::to_string(i) + "]";
    Napi::Object obj = Entry(a, i, where);
    CheckKeys(obj, where, kJoinKeys, sizeof kJoinKeys / sizeof *kJoinKeys);
    nsg_join out{};
    NSG_JOIN_FIELDS(NSG_READ)
    mem_.joins.push_back(out);
  }
  *count = (int32_t)mem_.joins.size();
  return mem_.joins.data();
}

void Reader::STDIO(Napi::Object o, const std::string &w, const char *k, std::vector<StdioEntry> &entries) {
  Napi::Array a = Array(o, w, k);
  Reader &r = *this;
  for (uint32_t i = 0; i < a.Length(); i++) {
    std::string where = w + "." + k + "[" + std::to_string(i) + "]";
    Napi::Object obj = Entry(a, i, where);
    CheckKeys(obj, where, kStdioKeys, sizeof kStdioKeys / sizeof *kStdioKeys);
    StdioEntry out{};
    NSG_STDIO_FIELDS(NSG_READ)
    entries.push_back(out);
  }
}

Napi::Array SchemaOf(Napi::Env env, const char *const *keys, const char *const *types, size_t n) {
  Napi::Array out = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, keys[i]);
    pair.Set(1u, types[i]);
    out.Set((uint32_t)i, pair);
  }
  return out;
}

}  // namespace

void ReadPlan(Napi::Object obj, SpawnMemory &mem, std::vector<StdioEntry> &stdio) {
  Reader r(obj.Env(), mem);
  const std::string where = "plan";
  r.CheckKeys(obj, where, kPlanKeys, sizeof kPlanKeys / sizeof *kPlanKeys);
  nsg_plan &out = mem.plan;
  NSG_PLAN_FIELDS(NSG_READ)
}

void ReadHandover(Napi::Object obj, SpawnMemory &mem, nsg_handover_fields &out, std::vector<StdioEntry> &stdio) {
  Reader r(obj.Env(), mem);
  const std::string where = "handover";
  r.CheckKeys(obj, where, kHandoverKeys, sizeof kHandoverKeys / sizeof *kHandoverKeys);
  NSG_HANDOVER_FIELDS(NSG_READ)
}

Napi::Object PlanSchema(Napi::Env env) {
#define NSG_TYPE(type, name, key) #type,
  static const char *const plan_types[] = {NSG_PLAN_FIELDS(NSG_TYPE)};
  static const char *const op_types[] = {NSG_OP_FIELDS(NSG_TYPE)};
  static const char *const join_types[] = {NSG_JOIN_FIELDS(NSG_TYPE)};
  static const char *const stdio_types[] = {NSG_STDIO_FIELDS(NSG_TYPE)};
  static const char *const rlimit_types[] = {NSG_RLIMIT_FIELDS(NSG_TYPE)};
  static const char *const handover_types[] = {NSG_HANDOVER_FIELDS(NSG_TYPE)};
#undef NSG_TYPE
  Napi::Object schema = Napi::Object::New(env);
  schema.Set("plan", SchemaOf(env, kPlanKeys, plan_types, sizeof kPlanKeys / sizeof *kPlanKeys));
  schema.Set("op", SchemaOf(env, kOpKeys, op_types, sizeof kOpKeys / sizeof *kOpKeys));
  schema.Set("join", SchemaOf(env, kJoinKeys, join_types, sizeof kJoinKeys / sizeof *kJoinKeys));
  schema.Set("stdio", SchemaOf(env, kStdioKeys, stdio_types, sizeof kStdioKeys / sizeof *kStdioKeys));
  schema.Set("rlimit", SchemaOf(env, kRlimitKeys, rlimit_types, sizeof kRlimitKeys / sizeof *kRlimitKeys));
  schema.Set("handover", SchemaOf(env, kHandoverKeys, handover_types, sizeof kHandoverKeys / sizeof *kHandoverKeys));
  return schema;
}
