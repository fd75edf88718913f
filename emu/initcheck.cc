// The emulated device's initcheck (build option SQZ_EMU_INITCHECK): a read
// of shared memory that no thread of the block has written fails the
// launch, naming the kernel, the block, the thread and the offset. On the
// device such a read returns whatever the previous block left there; it is
// a bug even when the value is discarded, because nothing says it will be.
//
// The kernels are compiled with GCC's kernel-address instrumentation in
// its outline form: every load and store calls one of the __asan_*_noabort
// functions below with its address. They are this emulator's, not
// AddressSanitizer's (which this build does not link): each keeps a
// written-bytes shadow of the running block's shared memory on the host
// thread that runs the block, and ignores every other address.
//
// Shared memory is the block's dynamic allocation, plus its static
// __shared__ arrays: those are thread_local in the emulation (one block
// runs at a time per host thread), so they lie in the calling thread's TLS
// block of the module that holds the kernel. The only other thread_local
// that kernel code reads is t_thread (the CUDA thread's indices), which
// counts as written.
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>

#include <string>
#include <vector>

#include "emu/internal.h"
#include "emu/sqz_emu.h"

namespace sqz_emu {
namespace {

// One tracked range of shared memory and which of its bytes were written.
struct Region {
  uintptr_t base = 0;
  size_t size = 0;
  std::vector<unsigned char> written;
  const char *what = "";
};

// The calling thread's TLS block of the module holding `code`.
struct TlsBlock {
  uintptr_t code = 0;
  uintptr_t base = 0;
  size_t size = 0;
};

struct BlockCheck {
  bool active = false;
  Region dynamic_smem, static_smem;
  std::string finding;  // the first unwritten read, if any
  TlsBlock tls;         // of the last kernel this thread ran: blocks of one launch share it
};

thread_local BlockCheck t_check __attribute__((tls_model("initial-exec")));

int find_tls(struct dl_phdr_info *info, size_t, void *arg) {
  TlsBlock *t = (TlsBlock *)arg;
  bool holds_code = false;
  size_t tls_size = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && t->code >= start && t->code < start + ph.p_memsz) holds_code = true;
    if (ph.p_type == PT_TLS) tls_size = ph.p_memsz;
  }
  if (!holds_code) return 0;
  if (info->dlpi_tls_data && tls_size) {
    t->base = (uintptr_t)info->dlpi_tls_data;
    t->size = tls_size;
  }
  return 1;
}

void track(Region &r, uintptr_t base, size_t size, const char *what) {
  r.base = base;
  r.size = size;
  r.what = what;
  r.written.assign(size, 0);
}

void note(Region &r, uintptr_t addr, size_t n, bool store) {
  const uintptr_t off = addr - r.base;
  if (store) {
    for (size_t i = 0; i < n && off + i < r.size; i++) r.written[off + i] = 1;
    return;
  }
  for (size_t i = 0; i < n && off + i < r.size; i++) {
    if (r.written[off + i]) continue;
    if (t_check.finding.empty()) {
      const ThreadState *s = thread_state();
      char msg[320];
      snprintf(msg, sizeof msg,
               "initcheck: read of %zu byte(s) of %s shared memory at offset %zu that no "
               "thread of the block had written, by thread (%u,%u,%u) of block (%u,%u,%u)",
               n, r.what, (size_t)off, s ? s->thread_index.x : 0, s ? s->thread_index.y : 0,
               s ? s->thread_index.z : 0, s ? s->block_index.x : 0, s ? s->block_index.y : 0,
               s ? s->block_index.z : 0);
      t_check.finding = msg;
    }
    return;
  }
}

inline void access(uintptr_t addr, size_t n, bool store) {
  BlockCheck &c = t_check;
  if (!c.active) return;
  if (addr - c.dynamic_smem.base < c.dynamic_smem.size)
    note(c.dynamic_smem, addr, n, store);
  else if (addr - c.static_smem.base < c.static_smem.size)
    note(c.static_smem, addr, n, store);
}

}  // namespace

void initcheck_begin(const void *kernel, void *smem, size_t smem_bytes) {
  BlockCheck &c = t_check;
  c.finding.clear();
  track(c.dynamic_smem, (uintptr_t)smem, smem ? smem_bytes : 0, "dynamic");
  TlsBlock &tls = c.tls;
  if (tls.code != (uintptr_t)kernel) {
    tls = TlsBlock{(uintptr_t)kernel};
    dl_iterate_phdr(find_tls, &tls);
  }
  track(c.static_smem, tls.base, tls.size, "static");
  // The CUDA thread's indices: read by kernel code, written by the emulator.
  const uintptr_t self = (uintptr_t)&t_thread;
  if (self - tls.base < tls.size) note(c.static_smem, self, sizeof t_thread, true);
  c.active = true;
}

bool initcheck_end(std::string *finding) {
  BlockCheck &c = t_check;
  c.active = false;
  if (c.finding.empty()) return false;
  *finding = c.finding;
  return true;
}

}  // namespace sqz_emu

// The instrumentation's entry points (GCC's -fsanitize=kernel-address with
// asan-instrumentation-with-call-threshold=0).
#define SQZ_EMU_ACCESS(n)                                                                 \
  extern "C" void __asan_load##n##_noabort(uintptr_t a) { sqz_emu::access(a, n, false); } \
  extern "C" void __asan_store##n##_noabort(uintptr_t a) { sqz_emu::access(a, n, true); }
SQZ_EMU_ACCESS(1)
SQZ_EMU_ACCESS(2)
SQZ_EMU_ACCESS(4)
SQZ_EMU_ACCESS(8)
SQZ_EMU_ACCESS(16)
extern "C" void __asan_loadN_noabort(uintptr_t a, size_t n) { sqz_emu::access(a, n, false); }
extern "C" void __asan_storeN_noabort(uintptr_t a, size_t n) { sqz_emu::access(a, n, true); }
extern "C" void __asan_handle_no_return(void) {}
// Emitted around the dynamic initialisation of a translation unit's
// globals (initialisation-order checking, which this build does not do).
extern "C" void __asan_before_dynamic_init(const char *) {}
extern "C" void __asan_after_dynamic_init(void) {}
