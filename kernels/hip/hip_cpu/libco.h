#ifndef TRIPTYCH_KERNELS_HIP_HIP_CPU_LIBCO_H_
#define TRIPTYCH_KERNELS_HIP_HIP_CPU_LIBCO_H_

// The libco interface (co_active / co_create / co_delete / co_switch) that
// AMD's HIP CPU Runtime (../shared/third_party/hip-cpu) runs a thread block's
// threads on: one fiber per GPU thread, switched at every __syncthreads().
// The hip-cpu copy beside this project ships without its external/ folder
// (libco, half), and Debian packages neither, so this is Triptych's own
// implementation of that interface; kernels/hip/CMakeLists.txt places it
// where hip-cpu's `#include "../../../../external/libco/libco.h"` finds it.
//
// x86-64: a switch saves the callee-saved registers on the current stack,
// swaps stack pointers and pops the other fiber's registers (no system
// call, unlike swapcontext, which masks signals on every switch). Other
// CPUs: ucontext. Stacks are mmap'ed with a guard page below, at least
// kMinStack bytes (hip-cpu asks for 7 KiB, too little for -O0 builds), so
// an overflow faults instead of corrupting a neighbour.
//
// Thread safety: fibers belong to the thread that created them (hip-cpu
// keeps them thread_local); co_active() is per thread.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

using cothread_t = void*;

namespace triptych_libco {

inline constexpr size_t kMinStack = 128 * 1024;

struct Fiber {
  void* sp = nullptr;  // saved stack pointer (x86-64)
  void (*entry)() = nullptr;
  void* stack = nullptr;  // mapping including the guard page
  size_t stack_bytes = 0;
#if !defined(__x86_64__)
  ucontext_t context;
#endif
};

inline Fiber*& Current() {
  static thread_local Fiber main_fiber;
  static thread_local Fiber* current = &main_fiber;
  return current;
}

[[noreturn]] inline void Trampoline() {
  Current()->entry();
  std::abort();  // a fiber's function must never return
}

#if defined(__x86_64__)
// Swaps to the stack saved in *to, saving the current one in *from.
__attribute__((naked, noinline)) inline void Swap(void** /*to*/,
                                                  void** /*from*/) {
  asm volatile(
      "pushq %rbp\n\t"
      "pushq %rbx\n\t"
      "pushq %r12\n\t"
      "pushq %r13\n\t"
      "pushq %r14\n\t"
      "pushq %r15\n\t"
      "movq %rsp, (%rsi)\n\t"
      "movq (%rdi), %rsp\n\t"
      "popq %r15\n\t"
      "popq %r14\n\t"
      "popq %r13\n\t"
      "popq %r12\n\t"
      "popq %rbx\n\t"
      "popq %rbp\n\t"
      "ret\n\t");
}
#endif

}  // namespace triptych_libco

inline cothread_t co_active() { return triptych_libco::Current(); }

inline cothread_t co_create(unsigned int size, void (*entry)()) {
  using triptych_libco::Fiber;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t bytes =
      size < triptych_libco::kMinStack ? triptych_libco::kMinStack : size;
  bytes = (bytes + page - 1) / page * page + page;  // + guard page
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  mprotect(mem, page, PROT_NONE);
  auto* f = new Fiber;
  f->entry = entry;
  f->stack = mem;
  f->stack_bytes = bytes;
#if defined(__x86_64__)
  auto top = (reinterpret_cast<uintptr_t>(mem) + bytes) & ~uintptr_t{15};
  auto* sp = reinterpret_cast<uintptr_t*>(top);
  *--sp = 0;  // Trampoline's (never used) return address: rsp % 16 == 8
  *--sp = reinterpret_cast<uintptr_t>(&triptych_libco::Trampoline);
  for (int i = 0; i < 6; ++i) *--sp = 0;  // rbp rbx r12 r13 r14 r15
  f->sp = sp;
#else
  getcontext(&f->context);
  f->context.uc_stack.ss_sp = static_cast<char*>(mem) + page;
  f->context.uc_stack.ss_size = bytes - page;
  f->context.uc_link = nullptr;
  makecontext(&f->context,
              reinterpret_cast<void (*)()>(&triptych_libco::Trampoline), 0);
#endif
  return f;
}

inline void co_delete(cothread_t handle) {
  auto* f = static_cast<triptych_libco::Fiber*>(handle);
  if (f == nullptr || f->stack == nullptr) return;  // never the main fiber
  munmap(f->stack, f->stack_bytes);
  delete f;
}

inline void co_switch(cothread_t handle) {
  auto* to = static_cast<triptych_libco::Fiber*>(handle);
  triptych_libco::Fiber* from = triptych_libco::Current();
  if (to == from) return;
  triptych_libco::Current() = to;
#if defined(__x86_64__)
  triptych_libco::Swap(&to->sp, &from->sp);
#else
  swapcontext(&from->context, &to->context);
#endif
}

#endif  // TRIPTYCH_KERNELS_HIP_HIP_CPU_LIBCO_H_
