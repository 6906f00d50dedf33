// SPDX-License-Identifier: Apache-2.0
// The wheels' glibc baseline (docs/deploying.md) is set by the newest glibc
// symbol the executable and core reference. Two come from the build
// machine's static C++ runtime (GCC 12 on Debian 12), and local definitions
// here satisfy both, so the binaries need glibc 2.34 (Ubuntu 22.04, RHEL 9)
// instead of 2.36. Linked into both binaries, exported by neither.
//
// - arc4random (glibc 2.36), from std::random_device, which bluepython never uses.
// - _dl_find_object (glibc 2.35): libgcc's unwinder finds the unwind tables of
//   a return address with it when it was built against a glibc that has it.
//   libgcc is linked statically (its shared libgcc_s, one more object in the
//   global symbol scope, made every start of libpython slower: about 2 M
//   instructions of symbol lookups). This one answers from dl_iterate_phdr,
//   as libgcc itself does where _dl_find_object does not exist.
#include <dlfcn.h>
#include <link.h>
#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <cstdint>

extern "C" __attribute__((visibility("hidden"))) std::uint32_t arc4random() {
  std::uint32_t value = 0;
  if (::getrandom(&value, sizeof value, 0) == static_cast<ssize_t>(sizeof value)) return value;
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint32_t>(ts.tv_nsec) ^ static_cast<std::uint32_t>(ts.tv_sec);
}

namespace {

struct lookup {
  std::uintptr_t pc = 0;
  dl_find_object* result = nullptr;
  bool found = false;
};

// The object whose PT_LOAD segments hold the address: its extent and its
// PT_GNU_EH_FRAME segment (.eh_frame_hdr), what the unwinder reads.
int visit(dl_phdr_info* info, std::size_t /*size*/, void* data) {
  auto* l = static_cast<lookup*>(data);
  std::uintptr_t low = UINTPTR_MAX;
  std::uintptr_t high = 0;
  std::uintptr_t eh_frame = 0;
  bool inside = false;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD) {
      const std::uintptr_t end = start + ph.p_memsz;
      low = std::min(low, start);
      high = std::max(high, end);
      inside = inside || (l->pc >= start && l->pc < end);
    } else if (ph.p_type == PT_GNU_EH_FRAME) {
      eh_frame = start;
    }
  }
  if (!inside) return 0;
  *l->result = dl_find_object{};
  l->result->dlfo_map_start = reinterpret_cast<void*>(low);
  l->result->dlfo_map_end = reinterpret_cast<void*>(high);
  l->result->dlfo_eh_frame = reinterpret_cast<void*>(eh_frame);
  l->found = true;
  return 1;
}

}  // namespace

extern "C" __attribute__((visibility("hidden"))) int _dl_find_object(void* pc, dl_find_object* result) {
  lookup l{reinterpret_cast<std::uintptr_t>(pc), result, false};
  ::dl_iterate_phdr(&visit, &l);
  return l.found ? 0 : -1;
}
