// mbarrier and TMA (bulk async copy) wrappers for the sm_90a producer/consumer kernels: the
// flat scorer (flat_score_wgmma.cu), HISA's two-pass token scorer (hisa_tokens_tma.cu) and its
// block scorer (hisa_blocks_tma.cu).
// Bodies exist only in the sm_90a pass (__CUDA_ARCH_FEAT_SM90_ALL); other passes compile empty
// stubs inside kernels that are never launched there.
#pragma once

#include <cstdint>

namespace hisa::cuda::tma {

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define HISA_TMA_BODY(...) __VA_ARGS__
#else
#define HISA_TMA_BODY(...)
#endif

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  HISA_TMA_BODY(asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count)
                             : "memory");)
}
// Makes the barrier inits visible to the async proxy (TMA) before any copy uses them.
__device__ __forceinline__ void mbar_fence_init() {
  HISA_TMA_BODY(asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");)
}
// The mbarrier rings of a producer/consumer CTA, 8 bytes each from shared address `bars`: kQS Q
// stages (full, empty), kKV key slots (full, empty), then kEpi epilogue slots (full, empty).
// init(): one thread, each ring's arrival counts, then the fence for the async proxy.
template <int kQS, int kKV, int kEpi = 0>
struct MbarRings {
  uint32_t bars;
  __device__ uint32_t q_full(int i) const { return bars + 8u * i; }
  __device__ uint32_t q_empty(int i) const { return bars + 8u * (kQS + i); }
  __device__ uint32_t kv_full(int i) const { return bars + 8u * (2 * kQS + i); }
  __device__ uint32_t kv_empty(int i) const { return bars + 8u * (2 * kQS + kKV + i); }
  __device__ uint32_t epi_full(int i) const { return bars + 8u * (2 * kQS + 2 * kKV + i); }
  __device__ uint32_t epi_empty(int i) const {
    return bars + 8u * (2 * kQS + 2 * kKV + kEpi + i);
  }
  __device__ void init(uint32_t q_full_n, uint32_t q_empty_n, uint32_t kv_full_n,
                       uint32_t kv_empty_n, uint32_t epi_full_n = 0,
                       uint32_t epi_empty_n = 0) const {
    for (int i = 0; i < kQS; ++i) {
      mbar_init(q_full(i), q_full_n);
      mbar_init(q_empty(i), q_empty_n);
    }
    for (int i = 0; i < kKV; ++i) {
      mbar_init(kv_full(i), kv_full_n);
      mbar_init(kv_empty(i), kv_empty_n);
    }
    for (int i = 0; i < kEpi; ++i) {
      mbar_init(epi_full(i), epi_full_n);
      mbar_init(epi_empty(i), epi_empty_n);
    }
    mbar_fence_init();
  }
};
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  HISA_TMA_BODY(asm volatile(
      "{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(bar)
      : "memory");)
}
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  HISA_TMA_BODY(asm volatile(
      "{\n.reg .b64 state;\nmbarrier.arrive.expect_tx.shared::cta.b64 state, [%0], %1;\n}\n" ::"r"(
          bar),
      "r"(bytes)
      : "memory");)
}
// One arrival on `bar` once every cp.async this thread issued before has landed; the barrier's
// count must include it (.noinc).
__device__ __forceinline__ void mbar_arrive_cp_async(uint32_t bar) {
  HISA_TMA_BODY(asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(bar)
                             : "memory");)
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  HISA_TMA_BODY(uint32_t done = 0; while (!done) {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  })
}
__device__ __forceinline__ void prefetch_map(const void* map) {
  HISA_TMA_BODY(asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(map))
                             : "memory");)
}
// Box (x, y) of a 2-D tensor map into shared memory `dst`, completing on `bar`.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const void* map, int32_t x, int32_t y,
                                            uint32_t bar) {
  HISA_TMA_BODY(asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, "
      "{%2, %3}], [%4];" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(bar)
      : "memory");)
}
// Box (0, y, z, w) of a 4-D tensor map into shared memory `dst`, completing on `bar`.
__device__ __forceinline__ void tma_load_4d(uint32_t dst, const void* map, int32_t y, int32_t z,
                                            int32_t w, uint32_t bar) {
  HISA_TMA_BODY(asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, "
      "{%2, %3, %4, %5}], [%6];" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(0), "r"(y), "r"(z), "r"(w), "r"(bar)
      : "memory");)
}
// Plain bulk copy (no tensor map) of `bytes` (a multiple of 16) from 16-byte aligned `src`.
__device__ __forceinline__ void bulk_load(uint32_t dst, const void* src, uint32_t bytes,
                                          uint32_t bar) {
  HISA_TMA_BODY(asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
          dst),
      "l"(src), "r"(bytes), "r"(bar)
      : "memory");)
}

#undef HISA_TMA_BODY

}  // namespace hisa::cuda::tma
