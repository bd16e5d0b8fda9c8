{
  "targets": [
    {
      # pid 1 of a sandbox's pid namespace: a freestanding static program (no libc), embedded
      # into the addon as bytes and exec'd from a sealed memfd, so it runs in any root filesystem.
      "target_name": "nsgroups_init",
      "type": "none",
      "actions": [
        {
          "action_name": "compile_init",
          "inputs": ["src-native/init/init.c", "src-native/init/start.S", "src-native/rawsys.h"],
          "outputs": ["<(INTERMEDIATE_DIR)/nsgroups-init"],
          "action": ["cc", "-Os", "-static", "-nostdlib", "-nostartfiles", "-ffreestanding", "-fno-builtin",
                     "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fno-pie", "-no-pie",
                     "-Wall", "-Wextra", "-Werror", "-s", "-Wl,--build-id=none", "-Isrc-native",
                     "-o", "<@(_outputs)", "src-native/init/start.S", "src-native/init/init.c"]
        },
        {
          "action_name": "embed_init",
          "inputs": ["<(INTERMEDIATE_DIR)/nsgroups-init", "scripts/embed-binary.js"],
          "outputs": ["<(SHARED_INTERMEDIATE_DIR)/nsgroups_init_blob.h"],
          "action": ["node", "scripts/embed-binary.js", "<(INTERMEDIATE_DIR)/nsgroups-init",
                     "<@(_outputs)", "nsgroups_init_blob"]
        }
      ]
    },
    {
      "target_name": "nsgroups",
      "dependencies": ["nsgroups_init", "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "sources": [
        "src-native/addon.cc",
        "src-native/cgroup_eventfd.cc",
        "src-native/child.c",
        "src-native/child_fs.c",
        "src-native/clone_call.S",
        "src-native/child_handle.cc",
        "src-native/child_watch.cc",
        "src-native/env_state.cc",
        "src-native/fs_natives.cc",
        "src-native/init_blob.cc",
        "src-native/netlink.cc",
        "src-native/nsfs.cc",
        "src-native/plan_reader.cc",
        "src-native/spawn.cc"
      ],
      "include_dirs": ["src-native", "<(SHARED_INTERMEDIATE_DIR)"],
      "defines": ["NAPI_VERSION=9", "_GNU_SOURCE"],
      "cflags": ["-O2", "-fvisibility=hidden", "-fstack-protector-strong", "-Wall", "-Wextra"],
      "cflags_c": ["-std=gnu11", "-fno-builtin", "-fno-stack-protector"],
      "cflags_cc": ["-std=c++17"]
    }
  ]
}
