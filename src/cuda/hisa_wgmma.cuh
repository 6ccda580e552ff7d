// Thin PTX wrappers for the sm_90a HISA kernels: cp.async (16-byte, zero-fill), the async-proxy
// fence, and warpgroup MMA (wgmma) m64n64 with both operands K-major in 128-byte-swizzled shared
// memory. Only compiled into the sm_90a pass (HISA_SM90); other passes see empty stubs and the
// kernels that use them are never launched there (hisa_select.cu checks the device).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define HISA_SM90 1
#endif

namespace hisa::cuda::sm90 {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Tiles: R rows of 128 * E bytes (E = 1 FP8, 2 bf16) stored as E "panels" of [R][128 B]; inside
// a panel each 1024-byte group of 8 rows is 128B-swizzled: 16-byte chunk c of row r sits at
// chunk c ^ (r & 7). Tile bases are 1024-aligned. This is the layout wgmma's SWIZZLE_128B
// K-major descriptor reads.
__host__ __device__ constexpr uint32_t swizzled_offset(int rows, int r, int chunk) {
  return static_cast<uint32_t>((chunk >> 3) * rows * 128 + r * 128 +
                               (((chunk & 7) ^ (r & 7)) << 4));
}

// Shared-memory matrix descriptor: K-major, 128B swizzle, 8-row groups 1024 bytes apart.
__device__ __forceinline__ uint64_t sw128_desc(uint32_t saddr) {
  uint64_t d = 0;
  d |= static_cast<uint64_t>((saddr & 0x3FFFFu) >> 4);  // start address
  d |= static_cast<uint64_t>(1) << 16;                   // leading byte offset (unused here)
  d |= static_cast<uint64_t>(1024 >> 4) << 32;           // stride byte offset
  d |= static_cast<uint64_t>(1) << 62;                   // SWIZZLE_128B
  return d;
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, uint32_t src_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes)
               : "memory");
#endif
}
// 4-byte variant (.ca: the only cache mode for sizes below 16); src_bytes 0 zero-fills.
__device__ __forceinline__ void cp_async4(uint32_t dst, const void* src, uint32_t src_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes)
               : "memory");
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// Makes this thread's generic-proxy shared-memory writes (st.shared, cp.async) visible to the
// async proxy (wgmma operand reads). Each writer runs it before the barrier.
__device__ __forceinline__ void fence_proxy_async() {
#ifdef HISA_SM90
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wgmma_fence() {
#ifdef HISA_SM90
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#ifdef HISA_SM90
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
#ifdef HISA_SM90
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}

// Warpgroup register reallocation (every thread of the warpgroup executes it): producers and
// epilogues give registers back to the pool, math warpgroups take them (values: multiples
// of 8; the per-SM total of the launch must stay within the register file).
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
#ifdef HISA_SM90
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(N));
#endif
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
#ifdef HISA_SM90
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(N));
#endif
}

// Pins accumulator registers so the compiler cannot move their uses across wgmma issue/wait.
__device__ __forceinline__ void fence_operand(float (&d)[32]) {
#pragma unroll
  for (int i = 0; i < 32; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

#define HISA_WGMMA_D32                                                                    \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, " \
  "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define HISA_WGMMA_OUT32(d)                                                              \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),    \
      "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]),         \
      "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]),      \
      "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),      \
      "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),      \
      "+f"(d[31])

// D[64x64] (+)= A[64x32] * B[32x64], FP8 e4m3 operands, f32 accumulators. accumulate=0 clears.
__device__ __forceinline__ void wgmma_m64n64k32_e4m3(float (&d)[32], uint64_t a, uint64_t b,
                                                     int accumulate) {
#ifdef HISA_SM90
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 " HISA_WGMMA_D32
      ", %32, %33, p, 1, 1;\n}\n"
      : HISA_WGMMA_OUT32(d)
      : "l"(a), "l"(b), "r"(accumulate));
#endif
}

// D[64x64] = A[64x128] * B[128x64], FP8, both operands one 128-byte swizzle atom wide at
// shared addresses a and b: four k32 steps (descriptor start address + 2 per 32 bytes, no
// carry below 256 KB), committed as one group.
__device__ __forceinline__ void wgmma_k128_e4m3(float (&d)[32], uint32_t a, uint32_t b) {
  const uint64_t da = sw128_desc(a), db = sw128_desc(b);
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) wgmma_m64n64k32_e4m3(d, da + 2 * kk, db + 2 * kk, kk > 0);
  wgmma_commit();
}

// D[64x64] (+)= A[64x16] * B[16x64], bf16 operands (both K-major), f32 accumulators.
__device__ __forceinline__ void wgmma_m64n64k16_bf16(float (&d)[32], uint64_t a, uint64_t b,
                                                     int accumulate) {
#ifdef HISA_SM90
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " HISA_WGMMA_D32
      ", %32, %33, p, 1, 1, 0, 0;\n}\n"
      : HISA_WGMMA_OUT32(d)
      : "l"(a), "l"(b), "r"(accumulate));
#endif
}

// D[64x128] (+)= A[64x16] * B[16x128], bf16 operands (both K-major), f32 accumulators: d0 holds
// columns 0..63 and d1 columns 64..127, each in the m64n64 accumulator layout (the m64n128
// fragment is the two m64n64 fragments one after the other).
#define HISA_WGMMA_D64 \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "\
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "\
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "\
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
__device__ __forceinline__ void wgmma_m64n128k16_bf16(float (&d0)[32], float (&d1)[32], uint64_t a,
                                                      uint64_t b, int accumulate) {
#ifdef HISA_SM90
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " HISA_WGMMA_D64
      ", %64, %65, p, 1, 1, 0, 0;\n}\n"
      : HISA_WGMMA_OUT32(d0), HISA_WGMMA_OUT32(d1)
      : "l"(a), "l"(b), "r"(accumulate));
#endif
}

// D[64x128] (+)= A[64x32] * B[32x128], FP8 e4m3 operands, f32 accumulators: d0 holds columns
// 0..63 and d1 columns 64..127, each in the m64n64 accumulator layout. accumulate=0 clears.
__device__ __forceinline__ void wgmma_m64n128k32_e4m3(float (&d0)[32], float (&d1)[32], uint64_t a,
                                                      uint64_t b, int accumulate) {
#ifdef HISA_SM90
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " HISA_WGMMA_D64
      ", %64, %65, p, 1, 1;\n}\n"
      : HISA_WGMMA_OUT32(d0), HISA_WGMMA_OUT32(d1)
      : "l"(a), "l"(b), "r"(accumulate));
#endif
}

// D[64x128] = A[64x128] * B[128x128] (B: 128 rows, e.g. two queries' 64 heads one after the
// other), FP8, operands one 128-byte swizzle atom wide: four k32 steps, one group.
__device__ __forceinline__ void wgmma_k128_e4m3_n128(float (&d0)[32], float (&d1)[32], uint32_t a,
                                                     uint32_t b) {
  const uint64_t da = sw128_desc(a), db = sw128_desc(b);
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) wgmma_m64n128k32_e4m3(d0, d1, da + 2 * kk, db + 2 * kk, kk > 0);
  wgmma_commit();
}

}  // namespace hisa::cuda::sm90
