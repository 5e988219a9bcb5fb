#ifndef TRIPTYCH_KERNELS_FPGA_HLS_SHIM_H_
#define TRIPTYCH_KERNELS_FPGA_HLS_SHIM_H_

// Lets the HLS kernels in this folder build both with Vitis HLS (v++ -c,
// hardware) and with a plain C++ compiler (C simulation in the tests).
//
// Under Vitis (__SYNTHESIS__ during synthesis, __VITIS_HLS__ in its C
// simulation) the real <hls_stream.h> is used. Elsewhere hls::stream is a
// std::deque-backed FIFO with the same read/write/empty interface, which is
// all the kernels use. Reading an empty stream is a deadlock in hardware; in
// C simulation it aborts with a message, so a dataflow bug cannot pass a test
// silently. Fixed-width types are the <cstdint> ones: every value the kernels
// carry fits a standard width (32-bit floats and indices, 64-bit offsets),
// so no ap_int is needed.
//
// `#pragma HLS` lines are ignored by GCC and Clang (the library compiles with
// -Wno-unknown-pragmas).

#if defined(__SYNTHESIS__) || defined(__VITIS_HLS__)
#include <hls_stream.h>
#else
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <utility>

namespace hls {

// Software model of hls::stream<T>: an unbounded FIFO (the `depth` a
// STREAM pragma gives only matters in hardware). Not thread-safe: a
// dataflow region runs its stages one after another in C simulation.
template <typename T>
class stream {
 public:
  stream() = default;
  explicit stream(const char* /*name*/) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  void write(const T& v) { fifo_.push_back(v); }
  T read() {
    if (fifo_.empty()) {
      std::fprintf(stderr, "hls::stream: read from an empty stream "
                           "(a deadlock in hardware)\n");
      std::abort();
    }
    T v = std::move(fifo_.front());
    fifo_.pop_front();
    return v;
  }
  bool empty() const { return fifo_.empty(); }
  bool full() const { return false; }
  std::size_t size() const { return fifo_.size(); }

 private:
  std::deque<T> fifo_;
};

}  // namespace hls
#endif

#endif  // TRIPTYCH_KERNELS_FPGA_HLS_SHIM_H_
