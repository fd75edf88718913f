// One block of a kernel on the emulated device: each CUDA thread is a
// fiber with its own stack, run in turn on one host thread until it
// reaches a barrier or ends. A barrier opens when every live thread of the
// block (__syncthreads) or of the warp (__syncwarp) has reached it, so
// code that needs the barrier to be correct only works when it is there.
//
// For the sanitizers, switches carry no synchronisation of their own; a
// barrier is a release by every arriving thread and an acquire by every
// leaving one, so ThreadSanitizer sees exactly the ordering the device
// guarantees, and a missing barrier is a data race. AddressSanitizer is
// told of each stack switch.
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <deque>
#include <memory>
#include <vector>

#include "emu/internal.h"
#include "emu/sqz_emu.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define SQZ_EMU_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define SQZ_EMU_TSAN 1
#endif

// Saves the callee-saved registers and the stack pointer of the running
// context in *save and continues the context whose stack pointer is next.
extern "C" void sqz_emu_switch(void **save, void *next);
asm(R"(
  .text
  .globl sqz_emu_switch
  .hidden sqz_emu_switch
  .type sqz_emu_switch, @function
sqz_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size sqz_emu_switch, .-sqz_emu_switch
)");

namespace sqz_emu {
namespace {

#if defined(SQZ_EMU_ASAN) || defined(SQZ_EMU_TSAN)
constexpr size_t kStackBytes = 512 * 1024;
#else
constexpr size_t kStackBytes = 128 * 1024;
#endif
constexpr size_t kGuardBytes = 4096;

struct KernelFault {};  // unwinds a fiber out of the kernel

#ifdef SQZ_EMU_TSAN
extern "C" void AnnotateIgnoreReadsBegin(const char *file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char *file, int line);
extern "C" void AnnotateIgnoreWritesBegin(const char *file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char *file, int line);
#endif

// The emulator's own bookkeeping (barrier counts, the scheduler's state)
// is shared by the fibers of a block without the ordering ThreadSanitizer
// looks for, by design: one runs at a time. Its accesses are hidden from
// ThreadSanitizer for the scope of this guard; the kernels' are not.
struct Bookkeeping {
#ifdef SQZ_EMU_TSAN
  Bookkeeping() {
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~Bookkeeping() {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
#endif
  Bookkeeping(const Bookkeeping &) = delete;
  Bookkeeping &operator=(const Bookkeeping &) = delete;
#ifndef SQZ_EMU_TSAN
  Bookkeeping() = default;
#endif
};

// A fiber's stack with a guard page below it, kept for reuse by the host
// thread that made it.
struct Stack {
  char *base = nullptr;  // guard page, then the stack
  bool unwound = false;  // last used by a fiber a fault unwound
  Stack() {
    void *p = mmap(nullptr, kGuardBytes + kStackBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      fprintf(stderr, "sqz emulated device: cannot map a fiber stack\n");
      abort();
    }
    base = (char *)p;
    mprotect(base, kGuardBytes, PROT_NONE);
  }
  ~Stack() { munmap(base, kGuardBytes + kStackBytes); }
  char *bottom() const { return base + kGuardBytes; }
};

struct Block;

struct Fiber {
  Block *block = nullptr;
  Stack *stack = nullptr;
  void *sp = nullptr;
  ThreadState state;
  uint3 tid;
  unsigned linear = 0;
  bool done = false;
  std::vector<AsyncCopy> open;                // cp.async copies not yet committed
  std::deque<std::vector<AsyncCopy>> groups;  // committed, not yet landed
#ifdef SQZ_EMU_TSAN
  void *tsan = nullptr;
#endif
#ifdef SQZ_EMU_ASAN
  void *fake_stack = nullptr;
#endif
};

// A barrier: a count of arrivals against the live threads of its group, a
// generation that advances when it opens, and two sync addresses for the
// sanitizer (alternating by generation, so leaving one generation never
// acquires what was released for the next).
struct Barrier {
  int arrived = 0, live = 0;
  unsigned generation = 0;
  unsigned syncwarp = ~0u;  // a warp's: the generation some lane waits in at __syncwarp
  char sync[2];
};

// A warp's rendezvous for its warp-wide instructions (warp_exchange): two
// slots, alternating, each the lanes' calls, instructions and bytes, lane
// by lane.
struct WarpExchange {
  unsigned calls[32] = {};  // each lane's count of warp-wide instructions
  unsigned tags[2][32] = {};
  const char *whats[2][32] = {};
  unsigned char bytes[2][32 * kExchangeBytes] = {};
};

struct Block {
  const Grid *grid;
  uint3 index;
  std::vector<Fiber> fibers;
  std::vector<Barrier> warps;
  Barrier all;
  void *sched_sp = nullptr;
  unsigned progress = 0;  // bumped whenever some thread moves on
  bool faulted = false;
  cudaError_t error = cudaSuccess;
  std::string why;
  std::unique_ptr<unsigned char, decltype(&free)> smem{nullptr, &free};
  std::vector<WarpExchange> exchanges;  // one a warp
  char start_sync, end_sync;
#ifdef SQZ_EMU_TSAN
  void *sched_tsan = nullptr;
#endif
#ifdef SQZ_EMU_ASAN
  void *sched_fake = nullptr;
  const void *sched_bottom = nullptr;
  size_t sched_size = 0;
#endif
};

thread_local Fiber *t_fiber = nullptr;
thread_local std::vector<std::unique_ptr<Stack>> t_stacks;

// The last device allocation a cp.async source was found in, per host
// thread: most copies of a block read the one allocation. Forgotten at the
// start of every block (nothing is freed while a block runs).
thread_local uintptr_t t_source_begin = 0, t_source_end = 0;

void tsan_release(void *addr) {
#ifdef SQZ_EMU_TSAN
  __tsan_release(addr);
#else
  (void)addr;
#endif
}
void tsan_acquire(void *addr) {
#ifdef SQZ_EMU_TSAN
  __tsan_acquire(addr);
#else
  (void)addr;
#endif
}

// From the running fiber back to the block's scheduler. `ending`: the
// fiber will never run again.
void to_scheduler(Fiber *f, bool ending) {
  Block *b = f->block;
#ifdef SQZ_EMU_ASAN
  __sanitizer_start_switch_fiber(ending ? nullptr : &f->fake_stack, b->sched_bottom, b->sched_size);
#endif
#ifdef SQZ_EMU_TSAN
  __tsan_switch_to_fiber(b->sched_tsan, __tsan_switch_to_fiber_no_sync);
#endif
  (void)ending;
  sqz_emu_switch(&f->sp, b->sched_sp);
#ifdef SQZ_EMU_ASAN
  __sanitizer_finish_switch_fiber(f->fake_stack, nullptr, nullptr);
#endif
}

void check_fault(Fiber *f) {
  if (f->block->faulted) throw KernelFault();
}

void leave(Fiber *f, Barrier &bar);
[[noreturn]] void end_fiber(Fiber *f);

// The block's first fault: the launch fails with `err` and this message.
void record_fault(Fiber *f, cudaError_t err, const char *msg) {
  Block *b = f->block;
  if (b->faulted) return;
  char where[160];
  snprintf(where, sizeof where, " in kernel %s, block (%u,%u,%u), thread (%u,%u,%u)", b->grid->name,
           b->index.x, b->index.y, b->index.z, f->tid.x, f->tid.y, f->tid.z);
  b->why = std::string(msg) + where;
  b->error = err;
  b->faulted = true;
}

// A thread that ends with copies it never waited for has read nothing they
// brought: a defect, whatever the device does with them.
void check_async_landed(Fiber *f) {
  size_t left = f->open.size();
  for (const std::vector<AsyncCopy> &g : f->groups) left += g.size();
  if (left)
    fault(cudaErrorLaunchFailure,
          "cp.async: the thread ended with %zu cp.async cop%s never waited for", left,
          left == 1 ? "y" : "ies");
}

void fiber_main() {
  Fiber *f;
  Block *b;
  bool faulted;
  {
    Bookkeeping quiet;
    f = t_fiber;
    b = f->block;
#ifdef SQZ_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &b->sched_bottom, &b->sched_size);
#endif
    tsan_acquire(&b->start_sync);
    faulted = b->faulted;
  }
  try {
    if (!faulted) {
      b->grid->body();
      check_async_landed(f);
    }
  } catch (const KernelFault &) {
    f->stack->unwound = true;
  }
  end_fiber(f);
}

// The running thread has ended (returned, or stopped by a fault): it leaves
// its barriers and never runs again.
[[noreturn]] void end_fiber(Fiber *f) {
  {
    Bookkeeping quiet;
    Block *b = f->block;
    f->done = true;
    b->progress++;
    // Lanes of its warp already wait for this one at a __syncwarp it will
    // never reach (at a warp-wide instruction, warp_exchange says so).
    const Barrier &warp = b->warps[f->linear / 32];
    if (warp.arrived > 0 && warp.syncwarp == warp.generation)
      record_fault(f, cudaErrorLaunchFailure,
                   "a lane exited while others of its warp wait for it at __syncwarp "
                   "(a mask naming lanes that have exited is undefined in NVIDIA's CUDA "
                   "guidelines)");
    leave(f, b->all);
    leave(f, b->warps[f->linear / 32]);
    tsan_release(&b->end_sync);
  }
  to_scheduler(f, true);  // outside the guard: a fiber must end with none
  abort();                // never resumed
}

// An ended thread no longer counts towards its barriers.
void leave(Fiber *f, Barrier &bar) {
  (void)f;
  bar.live--;
  if (bar.live > 0 && bar.arrived == bar.live) {
    bar.arrived = 0;
    bar.generation++;
  }
}

// `ordered`: the barrier orders memory for ThreadSanitizer (__syncthreads,
// __syncwarp); a warp-wide instruction's rendezvous does not.
void wait_at(Fiber *f, Barrier &bar, bool ordered = true) {
  Bookkeeping quiet;
  check_fault(f);
  const unsigned gen = bar.generation;
  if (ordered) tsan_release(&bar.sync[gen & 1]);
  if (++bar.arrived == bar.live) {
    bar.arrived = 0;
    bar.generation++;
    f->block->progress++;
  } else {
    while (bar.generation == gen) {
      to_scheduler(f, false);
      check_fault(f);
    }
  }
  if (ordered) tsan_acquire(&bar.sync[gen & 1]);
}

Fiber *current() {
  if (!t_fiber) {
    fprintf(stderr, "sqz emulated device: a device function was called outside a kernel\n");
    abort();
  }
  return t_fiber;
}

void enter(Block &b, Fiber &f) {
  t_fiber = &f;
  t_thread = &f.state;
#ifdef SQZ_EMU_ASAN
  __sanitizer_start_switch_fiber(&b.sched_fake, f.stack->bottom(), kStackBytes);
#endif
#ifdef SQZ_EMU_TSAN
  __tsan_switch_to_fiber(f.tsan, __tsan_switch_to_fiber_no_sync);
#endif
  sqz_emu_switch(&b.sched_sp, f.sp);
#ifdef SQZ_EMU_ASAN
  __sanitizer_finish_switch_fiber(b.sched_fake, nullptr, nullptr);
#endif
  t_fiber = nullptr;
  t_thread = nullptr;
}

void prepare(Block &b, Fiber &f, Stack *stack) {
  f.block = &b;
  f.stack = stack;
#ifdef SQZ_EMU_ASAN
  // Frames that returned left no poison behind; the two that never return
  // (fiber_main, and its last switch) sit at the top, and an unwound
  // fault may leave poison anywhere. Unpoisoning all 512 KiB for every
  // thread of every block would dominate the run.
  const size_t clean = stack->unwound ? kStackBytes : 16 * 1024;
  __asan_unpoison_memory_region(stack->bottom() + kStackBytes - clean, clean);
  stack->unwound = false;
#endif
  // The first switch "returns" into fiber_main with the ABI's alignment:
  // six saved registers (zero: rbp 0 ends frame-pointer walks), then the
  // return address, then a slot that keeps rsp 16-byte aligned at entry.
  void **top = (void **)(stack->bottom() + kStackBytes);
  void **sp = top - 8;
  for (int i = 0; i < 6; i++) sp[i] = nullptr;
  sp[6] = (void *)&fiber_main;
  sp[7] = nullptr;
  f.sp = sp;
#ifdef SQZ_EMU_TSAN
  f.tsan = __tsan_create_fiber(0);
#endif
}

}  // namespace

thread_local const ThreadState *t_thread = nullptr;
#ifdef SQZ_SANITIZED
const ThreadState *thread_state() {
  Bookkeeping quiet;
  return t_thread;
}
#endif

cudaError_t run_block(const Grid &g, uint3 block_index, std::string *why) {
  Bookkeeping quiet;  // the scheduler runs no kernel code
  const unsigned n = g.block.x * g.block.y * g.block.z;
  Block b;
  b.grid = &g;
  b.index = block_index;
  b.fibers.resize(n);
  b.warps.resize((n + 31) / 32);
  b.all.live = (int)n;
  for (unsigned w = 0; w < b.warps.size(); w++) b.warps[w].live = (int)std::min(32u, n - 32 * w);
  b.exchanges.resize(b.warps.size());
  if (g.smem) {
    // Exactly the requested size, so AddressSanitizer catches an overrun;
    // filled with a NaN pattern so that reading unwritten memory shows.
    void *p = nullptr;
    if (posix_memalign(&p, 128, g.smem) != 0) {
      *why = "cannot allocate the block's shared memory";
      return cudaErrorMemoryAllocation;
    }
    memset(p, 0xff, g.smem);
    b.smem.reset((unsigned char *)p);
  }
  while (t_stacks.size() < n) t_stacks.push_back(std::make_unique<Stack>());
#ifdef SQZ_EMU_TSAN
  b.sched_tsan = __tsan_get_current_fiber();
#endif
  for (unsigned i = 0; i < n; i++) {
    Fiber &f = b.fibers[i];
    f.linear = i;
    f.tid.x = i % g.block.x;
    f.tid.y = (i / g.block.x) % g.block.y;
    f.tid.z = i / (g.block.x * g.block.y);
    f.state = ThreadState{f.tid, block_index, g.block, g.grid, i};
    prepare(b, f, t_stacks[i].get());
  }
  tsan_release(&b.start_sync);
  t_source_begin = t_source_end = 0;
#ifdef SQZ_EMU_INITCHECK
  initcheck_begin(g.kernel, b.smem.get(), g.smem);
#endif
  unsigned remaining = n;
  while (remaining > 0) {
    const unsigned before = b.progress;
    for (Fiber &f : b.fibers) {
      if (f.done) continue;
      enter(b, f);
      if (f.done) {
        remaining--;
#ifdef SQZ_EMU_TSAN
        __tsan_destroy_fiber(f.tsan);
#endif
      }
    }
    if (remaining > 0 && b.progress == before && !b.faulted) {
      b.faulted = true;
      b.error = cudaErrorLaunchFailure;
      b.why = std::string("barrier deadlock in kernel ") + g.name +
              ": some threads wait at __syncthreads or __syncwarp that others never reach";
    }
  }
  tsan_acquire(&b.end_sync);
#ifdef SQZ_EMU_INITCHECK
  std::string finding;
  if (initcheck_end(&finding) && !b.faulted) {
    b.faulted = true;
    b.error = cudaErrorLaunchFailure;
    b.why = finding + " in kernel " + g.name;
  }
#endif
  if (b.faulted) *why = b.why;
  return b.faulted ? b.error : cudaSuccess;
}

// --- what the kernels call ------------------------------------------------

void sync_block() {
  Bookkeeping quiet;
  Fiber *f = current();
  wait_at(f, f->block->all);
}
// __syncwarp(mask): every lane named in the mask must arrive, the caller
// among them. A named lane that has exited (or does not exist) never
// arrives: undefined on the device, a fault here. Only masks naming every
// lane of the warp are emulated (the kernels use no other).
void sync_warp(unsigned mask) {
  Bookkeeping quiet;
  Fiber *f = current();
  Block *b = f->block;
  const unsigned first = f->linear / 32 * 32, lane = f->linear % 32;
  const size_t count = std::min<size_t>(32, b->fibers.size() - first);
  const unsigned present = count == 32 ? ~0u : (1u << count) - 1;
  if (!(mask >> lane & 1))
    fault(cudaErrorLaunchFailure, "__syncwarp(0x%08x): the calling lane %u is not in the mask",
          mask, lane);
  for (unsigned l = 0; l < 32; l++) {
    if (!(mask >> l & 1)) continue;
    if (!(present >> l & 1))
      fault(cudaErrorLaunchFailure, "__syncwarp(0x%08x): lane %u of the mask does not exist", mask,
            l);
    if (b->fibers[first + l].done)
      fault(cudaErrorLaunchFailure,
            "__syncwarp(0x%08x): lane %u of the mask has exited and never arrives "
            "(a mask naming lanes that have exited is undefined in NVIDIA's CUDA guidelines)",
            mask, l);
  }
  if (mask != present)
    fault(cudaErrorLaunchFailure,
          "__syncwarp(0x%08x): masks naming only some lanes of the warp are not emulated", mask);
  Barrier &warp = b->warps[first / 32];
  warp.syncwarp = warp.generation;
  wait_at(f, warp);
}

void async_copy(void *dst, const void *src, bool fill) {
  Bookkeeping quiet;
  Fiber *f = current();
  const Block *b = f->block;
  const uintptr_t d = (uintptr_t)dst, base = (uintptr_t)b->smem.get(), s = (uintptr_t)src;
  if (d % 16 || s % 16)
    fault(cudaErrorMisalignedAddress, "cp.async: %s %p is not 16-byte aligned",
          d % 16 ? "destination" : "source", d % 16 ? dst : src);
  if (!base || d < base || d + 16 > base + b->grid->smem)
    fault(cudaErrorIllegalAddress,
          "cp.async: destination %p is not in the block's dynamic shared memory", dst);
  if (s < t_source_begin || s + 16 > t_source_end) {
    if (!in_device_allocation(src, 16, &t_source_begin, &t_source_end))
      fault(cudaErrorIllegalAddress, "cp.async: source %p is not in a device allocation (%s)", src,
            fill ? "copied" : "zero-filled: its address must be one all the same");
  }
  f->open.push_back(AsyncCopy{dst, src, fill});
}
void async_commit() {
  Bookkeeping quiet;
  Fiber *f = current();
  f->groups.push_back(std::move(f->open));
  f->open.clear();
}
void async_land(int keep, std::vector<AsyncCopy> *landing) {
  Bookkeeping quiet;
  Fiber *f = current();
  landing->clear();
  while ((int)f->groups.size() > keep) {
    landing->insert(landing->end(), f->groups.front().begin(), f->groups.front().end());
    f->groups.pop_front();
  }
}

bool in_kernel() { return t_fiber != nullptr; }
void end_thread_on_fault(cudaError_t err, const char *message) {
  Fiber *f;
  {
    Bookkeeping quiet;
    f = current();
    record_fault(f, err, message);
    f->stack->unwound = true;
  }
  end_fiber(f);
}

void *dynamic_shared() {
  Bookkeeping quiet;
  return current()->block->smem.get();
}
size_t dynamic_shared_bytes() {
  Bookkeeping quiet;
  return current()->block->grid->smem;
}
void warp_exchange(const char *what, const void *mine, size_t bytes, void *all) {
  Bookkeeping quiet;
  Fiber *f = current();
  if (bytes > kExchangeBytes) fault(cudaErrorLaunchFailure, "%s: %zu bytes a lane", what, bytes);
  WarpExchange &ex = f->block->exchanges[f->linear / 32];
  const unsigned lane = f->linear % 32, call = ++ex.calls[lane], slot = call & 1;
  // A lane writes a slot again only after the whole warp has passed the
  // barrier of the instruction between, and so has copied it out.
  ex.tags[slot][lane] = call;
  ex.whats[slot][lane] = what;
  memcpy(ex.bytes[slot] + lane * bytes, mine, bytes);
  wait_at(f, f->block->warps[f->linear / 32], false);
  for (unsigned l = 0; l < 32; l++)
    if (ex.tags[slot][l] != call || ex.whats[slot][l] != what)
      fault(cudaErrorLaunchFailure,
            "%s: lane %u of the warp is not at it (every lane must execute it: .aligned)", what, l);
  memcpy(all, ex.bytes[slot], 32 * bytes);
}

void fault(cudaError_t err, const char *fmt, ...) {
  Bookkeeping quiet;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  record_fault(current(), err, msg);
  throw KernelFault();
}

}  // namespace sqz_emu
