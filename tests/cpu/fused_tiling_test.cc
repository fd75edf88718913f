// The fused kernels' geometry (fused_tiling.h), the per-layer variant
// table and the buffer plan, on the CPU. The kernels themselves run on the
// emulated device (tests/gpu on build-emu, scripts/emu-check.sh), which
// replaced the re-implementation of their algorithm that was here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/test_util.h"
#include "kernels/cuda/fused_kernels.h"
#include "kernels/cuda/fused_plan.h"
#include "kernels/ref/ref_ops.h"
#include "runtime/model.h"
#include "runtime/weight_pack.h"

namespace {

TEST(FusedGeometry, HaloTapsAreContiguousAlongATileRow) {
  sqz_pool_fold none = {0, 1, 0, 27, 27};
  for (int th : {1, 2, 4, 8}) {
    sqz_fire_geometry g = sqz_fire_geometry_make(27, 27, th, 16, none);
    EXPECT_EQ(g.tiles_x, 2);
    for (int r = 0; r < th; r++)
      for (int tap = 0; tap < 9; tap++)
        for (int x = 0; x < 16; x++) {
          const int dy = tap / 3 - 1, dx = tap % 3 - 1;
          const int hp = sqz_halo_tap(&g, r, x, dy, dx);
          ASSERT_EQ(hp, sqz_halo_tap(&g, r, 0, dy, dx) + x);
          ASSERT_GE(hp, 0);
          ASSERT_LT(hp, sqz_halo_pixels(&g));  // 16 rows from any tap stay in the halo
        }
  }
}

TEST(FusedGeometry, PoolWindowsNeverEmptyAndClipped) {
  for (int src : {3, 4, 13, 27, 55, 56, 111, 113}) {
    const int out = sqz_pool_out_size(src, 3, 2, 0);
    sqz_pool_fold p = {3, 2, 0, src, src};
    for (int y = 0; y < out; y++) {
      int r0, r1, c0, c1;
      sqz_pool_window(&p, y, y, &r0, &r1, &c0, &c1);
      EXPECT_LT(r0, r1) << src;
      EXPECT_LE(r1, src);
      EXPECT_GE(r0, 0);
    }
  }
}

TEST(FusedGeometry, ClassifierOverlappingLastTileCountsEveryPixelOnce) {
  for (int hw = 16; hw <= 300; hw++) {
    std::vector<int> seen(hw, 0);
    const int tiles = (hw + 15) / 16;
    for (int t = 0; t < tiles; t++) {
      const int row0 = std::min(t * 16, hw - 16), first_new = t * 16 - row0;
      for (int p = first_new; p < 16; p++) seen[row0 + p]++;
    }
    for (int p = 0; p < hw; p++) ASSERT_EQ(seen[p], 1) << hw << " pixel " << p;
  }
}

// The tensor-core Fire kernel's shared row strides: every fragment start
// 32-byte aligned at any row, and the 8 rows that one 16-byte-per-row
// matrix load reads spread over the 32 four-byte banks at most 2-way.
TEST(FusedGeometry, WmmaStridesAlignedAndAtMostTwoWayBankConflicts) {
  for (int cols = 16; cols <= 1024; cols += 16) {
    const int stride = sqz_wmma_stride(cols);
    ASSERT_GE(stride, cols);
    ASSERT_LE(stride, cols + 16);
    ASSERT_EQ(stride * 2 % 32, 0) << cols;  // bytes: any row starts 32-byte aligned
    for (int first = 0; first < 16; first++) {
      int hits[8] = {};  // 16-byte bank groups of 4 banks
      for (int r = 0; r < 8; r++) hits[((first + r) * stride * 2 / 16) % 8]++;
      ASSERT_LE(*std::max_element(hits, hits + 8), 2) << "cols " << cols << " stride " << stride;
    }
  }
  EXPECT_EQ(sqz_wmma_stride(48), 48);  // the old S + 16 = 64 was 8-way for S = 48
  EXPECT_EQ(sqz_wmma_stride(64), 80);
}

// The Fire kernel's shared row strides (read only by ldmatrix): every row
// 16-byte aligned, and the 8 rows of any 8 x 8 matrix load, from any first
// row, on 8 distinct groups of 4 banks: no conflicts.
TEST(FusedGeometry, MmaStridesAlignedAndConflictFree) {
  for (int cols = 16; cols <= 1024; cols += 16) {
    const int stride = sqz_mma_stride(cols);
    ASSERT_GE(stride, cols);
    ASSERT_EQ(stride * 2 % 16, 0) << cols;
    for (int first = 0; first < 16; first++) {
      int hits[8] = {};
      for (int r = 0; r < 8; r++) hits[((first + r) * stride * 2 / 16) % 8]++;
      ASSERT_EQ(*std::max_element(hits, hits + 8), 1) << "cols " << cols << " stride " << stride;
    }
  }
}

// The squeeze's deal: every output tile to exactly one warp, no warp over
// SQZ_WMMA_MAX_FRAGS, for every shape the planner allows (at most 64
// tiles); one column tile a warp whenever the shares fit, 3, 5, 6 and 7
// column tiles included (fire6/7 of v1.1 have 3), and when the column
// tiles divide the 8 warps, the same tiles as the plain deal t = w + 8 j.
TEST(FusedGeometry, SqueezeDealCoversEveryTileOnceWithOneColumnAWarp) {
  for (int n = 1; n <= 64; n++)
    for (int rows = 1; rows * n <= SQZ_FIRE_WARPS * SQZ_WMMA_MAX_FRAGS; rows++) {
      std::vector<int> seen(rows * n, 0);
      for (int w = 0; w < SQZ_FIRE_WARPS; w++) {
        const sqz_squeeze_deal d = sqz_squeeze_deal_of(w, rows, n);
        ASSERT_LE(d.count, SQZ_WMMA_MAX_FRAGS) << "n " << n << " rows " << rows;
        for (int j = 0; j < d.count; j++) {
          const int t = d.fixed ? (d.mt0 + d.step * j) * n + d.nt : w + SQZ_FIRE_WARPS * j;
          ASSERT_LT(t, rows * n) << "n " << n << " rows " << rows << " warp " << w;
          seen[t]++;
          if (d.fixed && SQZ_FIRE_WARPS % n == 0) EXPECT_EQ(t, w + SQZ_FIRE_WARPS * j);
        }
      }
      for (int t = 0; t < rows * n; t++) ASSERT_EQ(seen[t], 1) << "n " << n << " rows " << rows;
      if (n <= SQZ_FIRE_WARPS && (rows + SQZ_FIRE_WARPS / n - 1) / (SQZ_FIRE_WARPS / n) <= 8)
        EXPECT_TRUE(sqz_squeeze_deal_of(0, rows, n).fixed) << "n " << n << " rows " << rows;
    }
  // fire6/7 of v1.1 at 4-row tiles: 7 row tiles x 3 column tiles.
  EXPECT_TRUE(sqz_squeeze_deal_of(0, 7, 3).fixed);
  EXPECT_EQ(sqz_squeeze_deal_of(2, 7, 3).step, 2);
  EXPECT_EQ(sqz_squeeze_deal_of(2, 7, 3).count, 4);
}

// A warp's 16 x 16 half result tile is its part of the stage, each part
// 16-byte aligned, its rows 16-byte aligned for
// wmma_store_row's loads, and neither access conflicts: the accumulators'
// 4-byte stores (lane l: row l / 4 (+ 8), the pair l % 4 of column half h)
// fall on 32 distinct banks, and each 8-lane phase of the 16-byte loads
// (lane l: row l % 16, half l / 16) on 8 distinct 16-byte bank groups.
TEST(FusedGeometry, ResultTileFitsTheStageWithoutBankConflicts) {
  const int ld = SQZ_WMMA_RESULT_LD;
  EXPECT_EQ(sqz_wmma_warp_stage_bytes(), (size_t)16 * ld * 2);
  EXPECT_EQ(sqz_wmma_warp_stage_bytes() % 16, 0u);
  EXPECT_EQ(sqz_wmma_stage_bytes(), SQZ_FIRE_WARPS * sqz_wmma_warp_stage_bytes());
  EXPECT_EQ(ld * 2 % 16, 0);
  for (int h = 0; h < 2; h++)
    for (int second = 0; second < 2; second++) {
      int hits[32] = {};
      for (int lane = 0; lane < 32; lane++)
        hits[(((lane / 4 + 8 * second) * ld + 8 * h + 2 * (lane % 4)) / 2) % 32]++;
      EXPECT_EQ(*std::max_element(hits, hits + 32), 1) << "h " << h << " second " << second;
    }
  for (int phase = 0; phase < 4; phase++) {
    int hits[8] = {};
    for (int lane = 8 * phase; lane < 8 * phase + 8; lane++)
      hits[((lane % 16) * ld * 2 + (lane / 16) * 16) / 16 % 8]++;
    EXPECT_EQ(*std::max_element(hits, hits + 8), 1) << "phase " << phase;
  }
}

// The squeeze's input chunks: one buffer behind a folded pool; read as it
// is, a ring of 2 to 4 buffers, each 32-byte aligned (asynchronous copies
// into the next ones while the tensor cores read one), as many as the
// chunks need and the budget allows. The planner sizes each module's
// shared memory by the fold it actually has and keeps two blocks an SM.
TEST(FusedGeometry, WmmaInputRingWithinTheBudgetUnlessReadThroughAPool) {
  const sqz_pool_fold none = {0, 1, 0, 55, 55}, pooled = {3, 2, 0, 111, 111};
  const size_t lots = (size_t)1 << 30;
  EXPECT_EQ(sqz_wmma_in_buffers_for(&pooled, 8, 16, 512, 64, 0, lots), 1);
  EXPECT_EQ(sqz_wmma_in_buffers_for(&none, 8, 16, 512, 64, 0, lots), SQZ_WMMA_MAX_IN_BUFFERS);
  EXPECT_EQ(sqz_wmma_in_buffers_for(&none, 8, 16, 512, 64, 0, 0), 2);    // at least two
  EXPECT_EQ(sqz_wmma_in_buffers_for(&none, 8, 16, 16, 16, 0, lots), 2);  // one chunk
  EXPECT_EQ(sqz_wmma_in_buffers_for(&none, 8, 16, 96, 16, 0, lots), 3);  // three chunks
  for (int th = 1; th <= SQZ_WMMA_MAX_TILE_H; th++)
    for (int s = 16; s <= 128; s += 16) {
      const size_t sq = sqz_wmma_sq_bytes(th, 16, s), in = sqz_wmma_in_bytes(th, 16, s);
      ASSERT_EQ(sq % 32, 0u);
      ASSERT_EQ(in % 32, 0u);  // so the next buffers start aligned too
      // and so do the chunk's squeeze weight rows after its pixels
      ASSERT_EQ(sqz_wmma_chunk_pixels_bytes(th, 16) % 32, 0u);
      EXPECT_EQ(in - sqz_wmma_chunk_pixels_bytes(th, 16),
                (size_t)SQZ_FIRE_CHUNK * sqz_mma_stride(s) * 2);
      EXPECT_EQ(sqz_wmma_fire_smem(th, 16, 128, s, 0, 2) - sqz_wmma_fire_smem(th, 16, 128, s, 0, 1),
                in);
      for (size_t budget = 40 << 10; budget <= 160 << 10; budget += 8 << 10) {
        const int b = sqz_wmma_in_buffers_for(&none, th, 16, 512, s, 0, budget);
        ASSERT_GE(b, 2);
        ASSERT_LE(b, SQZ_WMMA_MAX_IN_BUFFERS);
        if (b > 2) EXPECT_LE(sqz_wmma_fire_smem(th, 16, 512, s, 0, b), budget);
        if (b < SQZ_WMMA_MAX_IN_BUFFERS)  // the most that fit
          EXPECT_GT(sqz_wmma_fire_smem(th, 16, 512, s, 0, b + 1), budget);
      }
    }
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &m), SQZ_OK);
  sqz_memory_plan p;
  sqz_plan_init(&p);
  sqz_fused_plan plan;
  ASSERT_EQ(sqz_fused_plan_buffers(m->layers, m->num_layers, 256, SQZ_DTYPE_F16, &p, &plan),
            SQZ_OK);
  sqz_plan_finish(&p);
  const size_t two_blocks = sqz_fused_two_block_smem(228 << 10, 1 << 10);
  EXPECT_EQ(two_blocks, (size_t)113 << 10);  // H100 / H200: 228 KB an SM, 1 KB a block kept
  EXPECT_EQ(sqz_fused_two_block_smem(1 << 10, 1 << 10), 0u);
  int pooled_fires = 0, plain_fires = 0, deeper = 0;
  for (int i = 0; i < m->num_layers; i++) {
    const sqz_layer *l = &m->layers[i];
    if (l->kind != SQZ_LAYER_FIRE) continue;
    const sqz_pool_fold *fold = &plan.steps[i].pool;
    for (int batch : {1, 256}) {
      const sqz_fused_variant v =
          sqz_fused_fire_variant(l, fold, SQZ_DTYPE_F16, batch, 132, 227 << 10, two_blocks);
      ASSERT_EQ(v.math, SQZ_MATH_WMMA) << l->name;
      EXPECT_EQ(v.in_buffers, sqz_wmma_in_buffers_for(fold, v.tile_h, 16, l->in_c,
                                                      l->fire.squeeze.out_channels, 0, two_blocks))
          << l->name;
      EXPECT_EQ(v.smem, sqz_wmma_fire_smem(v.tile_h, 16, l->in_c, l->fire.squeeze.out_channels, 0,
                                           v.in_buffers))
          << l->name;
      EXPECT_LE(v.smem, two_blocks) << l->name << " at batch " << batch;
      if (fold->kernel) EXPECT_EQ(v.in_buffers, 1) << l->name;
      deeper += v.in_buffers > 2;
      if (batch == 256) (fold->kernel ? pooled_fires : plain_fires)++;
    }
  }
  EXPECT_EQ(pooled_fires, 2);  // fire4 and fire6 (pool1 is the stem's)
  EXPECT_EQ(plain_fires, 6);
  EXPECT_GT(deeper, 0);  // the ring is used where it fits
  // Without room for a third buffer, two, as before.
  int last = m->num_layers - 1;
  while (m->layers[last].kind != SQZ_LAYER_FIRE) last--;  // fire9: 16 chunks
  const sqz_fused_variant tight = sqz_fused_fire_variant(&m->layers[last], &plan.steps[last].pool,
                                                         SQZ_DTYPE_F16, 256, 132, 227 << 10, 0);
  EXPECT_EQ(tight.in_buffers, 2);
  sqz_model_free(m);
}

// The squeeze's tiles of a warp are t = warp + 8 j < 64 (the planner's
// bound), and t / n_tiles is taken by a reciprocal: exact for every t and
// column tile count in that range.
TEST(FusedGeometry, ReciprocalDivisionIsExactForEveryTileIndex) {
  for (int n = 1; n <= SQZ_FIRE_WARPS * SQZ_WMMA_MAX_FRAGS; n++)
    for (int t = 0; t < SQZ_FIRE_WARPS * SQZ_WMMA_MAX_FRAGS; t++)
      ASSERT_EQ(sqz_div_recip16(t, sqz_recip16(n)), t / n) << t << " / " << n;
}

// The expand's deal: every item to exactly one warp, every row of every
// output channel tile covered exactly once, and the busiest warp's MMAs per
// tile as docs/benchmarks.md lists them (round-robin gave 72, 36, 160,
// 456, 228 and 640).
TEST(FusedGeometry, ExpandDealCoversEveryTileOnceAndBalancesMmas) {
  const struct {
    int s, e1, e3, tile_h, busiest;
  } cases[] = {{16, 64, 64, 8, 44},    {16, 64, 64, 4, 22},    {32, 128, 128, 8, 160},
               {48, 192, 192, 8, 372}, {48, 192, 192, 4, 186}, {64, 256, 256, 8, 640},
               {16, 16, 48, 2, 0},     {16, 32, 0, 8, 0},      {16, 0, 32, 1, 0},
               {64, 512, 512, 8, 0},   {64, 1024, 1024, 8, 0}, {16, 16, 1008, 8, 0}};
  for (const auto &c : cases) {
    SCOPED_TRACE(testing::Message() << c.s << " " << c.e1 << " " << c.e3 << " rows " << c.tile_h);
    const sqz_expand_deal d = sqz_expand_deal_make(c.e1, c.e3, c.tile_h);
    const int t1 = c.e1 / 16, t3 = c.e3 / 16;
    ASSERT_GE(d.parts, 1);
    ASSERT_EQ(d.items, t3 * d.parts + t1);
    EXPECT_EQ(d.dealt, d.items <= SQZ_EXPAND_MAX_ITEMS);
    std::vector<int> rows_seen((size_t)(t1 + t3) * c.tile_h, 0);
    int mmas[SQZ_FIRE_WARPS] = {};
    for (int i = 0; i < d.items; i++) {
      int owners = 0, owner = i % SQZ_FIRE_WARPS;
      if (d.dealt)
        for (int w = 0; w < SQZ_FIRE_WARPS; w++)
          if (d.mine[w] >> i & 1) owners++, owner = w;
      int nt, r0, r1;
      sqz_expand_item(&d, t1, t3, c.tile_h, i, &nt, &r0, &r1);
      ASSERT_GE(nt, 0);
      ASSERT_LT(nt, t1 + t3);
      if (r0 >= r1) continue;
      if (d.dealt) ASSERT_EQ(owners, 1) << "item " << i;
      for (int r = r0; r < r1; r++) rows_seen[(size_t)nt * c.tile_h + r]++;
      mmas[owner] += (nt >= t1 ? 9 : 1) * (r1 - r0) * (c.s / 16);
    }
    for (int v : rows_seen) ASSERT_EQ(v, 1);
    if (d.dealt && d.items < 64)  // no bits past the items
      for (int w = 0; w < SQZ_FIRE_WARPS; w++) EXPECT_EQ(d.mine[w] >> d.items, 0u);
    if (c.busiest) EXPECT_EQ(*std::max_element(mmas, mmas + SQZ_FIRE_WARPS), c.busiest);
  }
}

// The tensor-core expand has a loop for items of 1, 2, 4 and 8 rows
// (wmma_expand_item): at every tile height the planner picks (powers of
// two up to 8; the launcher refuses others), every item has one of those.
TEST(FusedGeometry, ExpandItemsHaveOneTwoFourOrEightRows) {
  for (int tile_h : {1, 2, 4, 8})
    for (int t1 = 0; t1 <= 64; t1++)
      for (int t3 = 0; t3 <= 64; t3++) {
        const sqz_expand_deal d = sqz_expand_deal_make(16 * t1, 16 * t3, tile_h);
        for (int i = 0; i < d.items; i++) {
          int nt, r0, r1;
          sqz_expand_item(&d, t1, t3, tile_h, i, &nt, &r0, &r1);
          const int rows = r1 - r0;
          if (rows <= 0) continue;
          ASSERT_TRUE(rows == 1 || rows == 2 || rows == 4 || rows == 8)
              << rows << " rows: tile_h " << tile_h << ", " << t1 << " + " << t3 << " tiles";
        }
      }
}

TEST(FusedPlan, BuiltinsMapToStemFiresAndClassifier) {
  for (const char *name : {"squeezenet1_0", "squeezenet1_1", "squeezenet1_0_complex_bypass"}) {
    sqz_model *m = nullptr;
    ASSERT_EQ(sqz_model_builtin(name, 0, &m), SQZ_OK);
    sqz_memory_plan p;
    sqz_plan_init(&p);
    sqz_fused_plan plan;
    ASSERT_EQ(sqz_fused_plan_buffers(m->layers, m->num_layers, 256, SQZ_DTYPE_F16, &p, &plan),
              SQZ_OK)
        << sqz_last_error();
    sqz_plan_finish(&p);
    std::string roles;
    for (int i = 0; i < m->num_layers; i++) roles += "SPFCX"[plan.steps[i].role];
    if (std::string(name) == "squeezenet1_1")
      EXPECT_EQ(roles, "SPFFPFFPFFFFCX");
    else
      EXPECT_EQ(roles, "SPFFFPFFFFPFCX");
    // Pools after fires are folded into the next Fire's read (pool1 into
    // the stem).
    EXPECT_EQ(plan.steps[0].pool.kernel, 3);
    EXPECT_EQ(plan.steps[2].pool.kernel, 0);
    for (int i = 3; i < m->num_layers; i++)
      if (m->layers[i].kind == SQZ_LAYER_FIRE && m->layers[i - 1].kind == SQZ_LAYER_MAXPOOL)
        EXPECT_EQ(plan.steps[i].pool.kernel, 3) << m->layers[i].name;
    // The fused engine never holds the conv1 output nor a squeeze tensor:
    // its peak is below the cuDNN plan's (input + conv1 output).
    size_t conv1_out =
        (size_t)m->layers[0].out_c * m->layers[0].out_h * m->layers[0].out_w * 256 * 2;
    EXPECT_LT(p.total, conv1_out + plan.classifier_ldw * 512 * 2 + (16u << 20));
    EXPECT_EQ(plan.classifier_ldw, 1008);
    sqz_model_free(m);
  }
}

// The packed B operand (sqz_mma_b_source) covers every weight exactly
// once, and puts element (k, n) of each 16 x 16 step where the m16n8k16 B
// fragment has it: lane (n % 8) * 4 + (k % 8) / 2, register (k % 16) / 8
// for columns 0-7 and 2 + that for 8-15, the lower row in the lower half.
TEST(FusedGeometry, PackedWeightsAreTheMmaRegistersInStepOrder) {
  for (int k_rows : {16, 48, 144, 576})
    for (int n : {16, 64, 208}) {
      std::vector<int> seen((size_t)k_rows * n, 0);
      for (size_t i = 0; i < seen.size(); i++) {
        int k, c;
        sqz_mma_b_source(i, k_rows, &k, &c);
        ASSERT_GE(k, 0);
        ASSERT_LT(k, k_rows);
        ASSERT_GE(c, 0);
        ASSERT_LT(c, n);
        seen[(size_t)k * n + c]++;
        const size_t step = i / SQZ_MMA_B_STEP_HALVES;  // of all tiles, in order
        const int lane = (int)(i / 8 % 32), reg = (int)(i % 8 / 2), half = (int)(i % 2);
        ASSERT_EQ(step, (size_t)(c / 16) * (k_rows / 16) + k / 16) << i;
        ASSERT_EQ(lane, (c % 8) * 4 + (k % 8) / 2) << i;
        ASSERT_EQ(reg, (k % 16) / 8 + 2 * ((c % 16) / 8)) << i;
        ASSERT_EQ(half, k % 2) << i;
      }
      EXPECT_EQ(*std::min_element(seen.begin(), seen.end()), 1);
      EXPECT_EQ(*std::max_element(seen.begin(), seen.end()), 1);
    }
}

// fp16 plans give each tensor-core Fire module one buffer of packed
// weights (both expands, the shortcut, the padding the loads ahead read),
// alive for the engine's life; fp32 plans and CUDA-core modules none.
TEST(FusedPlan, TensorCoreFiresGetTheirPackedWeights) {
  sqz_metaparams odd = sqz_metaparams_default();
  odd.pct_3x3 = 0.01;  // channels not multiples of 16: CUDA cores
  for (int which = 0; which < 3; which++) {
    sqz_model *m = nullptr;
    if (which < 2)
      ASSERT_EQ(sqz_model_builtin(which ? "squeezenet1_0_complex_bypass" : "squeezenet1_1", 0, &m),
                SQZ_OK);
    else
      ASSERT_EQ(sqz_model_from_metaparams(&odd, 0, &m), SQZ_OK);
    for (sqz_dtype dt : {SQZ_DTYPE_F16, SQZ_DTYPE_F32}) {
      sqz_memory_plan p;
      sqz_plan_init(&p);
      sqz_fused_plan plan;
      ASSERT_EQ(sqz_fused_plan_buffers(m->layers, m->num_layers, 8, dt, &p, &plan), SQZ_OK);
      int packed = 0;
      for (int i = 0; i < m->num_layers; i++) {
        const sqz_layer *l = &m->layers[i];
        const int b = plan.steps[i].mma_weights;
        if (l->kind != SQZ_LAYER_FIRE || dt == SQZ_DTYPE_F32 || which == 2) {
          EXPECT_EQ(b, -1) << l->name;
          continue;
        }
        ASSERT_GE(b, 0) << l->name;
        packed++;
        const sqz_fire *f = &l->fire;
        const size_t s = f->squeeze.out_channels, e1 = f->expand1x1.out_channels,
                     e3 = f->expand3x3.out_channels;
        size_t at_e3, at_shortcut;
        const size_t total = sqz_fused_mma_offsets(l, &at_e3, &at_shortcut);
        EXPECT_EQ(at_e3, s * e1);
        EXPECT_EQ(at_shortcut, at_e3 + 9 * s * e3);
        const size_t shortcut = f->bypass == SQZ_BYPASS_COMPLEX ? l->in_c * (e1 + e3) : 0;
        EXPECT_EQ(total, at_shortcut + shortcut + SQZ_MMA_B_AHEAD * SQZ_MMA_B_STEP_HALVES);
        EXPECT_EQ(p.buffers[b].bytes, total * 2);
        EXPECT_EQ(p.buffers[b].first, 0);
        EXPECT_GT(p.buffers[b].last, m->num_layers);
        EXPECT_EQ(at_e3 * 2 % 16, 0u);  // every part 16-byte aligned
        EXPECT_EQ(at_shortcut * 2 % 16, 0u);
      }
      EXPECT_EQ(packed, dt == SQZ_DTYPE_F16 && which < 2 ? 8 : 0) << m->name;
    }
    sqz_model_free(m);
  }
}

TEST(FusedPlan, UnsupportedStructuresSayWhich) {
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_begin("odd", 3, 32, 32, &m), SQZ_OK);
  ASSERT_EQ(sqz_model_add_conv(m, "conv1", 8, 3, 1, 1, 1), SQZ_OK);
  ASSERT_EQ(sqz_model_add_conv(m, "middle", 8, 3, 1, 1, 1), SQZ_OK);
  ASSERT_EQ(sqz_model_add_conv(m, "conv10", 4, 1, 1, 0, 1), SQZ_OK);
  ASSERT_EQ(sqz_model_add_global_avgpool(m, "gap"), SQZ_OK);
  ASSERT_EQ(sqz_model_finish(m), SQZ_OK);
  sqz_memory_plan p;
  sqz_plan_init(&p);
  sqz_fused_plan plan;
  EXPECT_EQ(sqz_fused_plan_buffers(m->layers, m->num_layers, 1, SQZ_DTYPE_F32, &p, &plan),
            SQZ_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(sqz_last_error()).find("middle"), std::string::npos);
  sqz_model_free(m);
}

TEST(FusedVariants, TensorCoresOnlyForMultiplesOf16AndAlwaysAFit) {
  const size_t limit = 227 << 10;  // H100/H200 opt-in shared memory per block
  sqz_metaparams odd = sqz_metaparams_default();
  odd.pct_3x3 = 0.01;
  sqz_metaparams wide = sqz_metaparams_default();
  wide.squeeze_ratio = 1.0;
  sqz_model *models[5] = {};
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0", 0, &models[0]), SQZ_OK);
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &models[1]), SQZ_OK);
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0_complex_bypass", 0, &models[2]), SQZ_OK);
  ASSERT_EQ(sqz_model_from_metaparams(&odd, 0, &models[3]), SQZ_OK);
  ASSERT_EQ(sqz_model_from_metaparams(&wide, 0, &models[4]), SQZ_OK);
  for (int mi = 0; mi < 5; mi++) {
    const sqz_model *m = models[mi];
    for (int i = 0; i < m->num_layers; i++) {
      const sqz_layer *l = &m->layers[i];
      if (l->kind != SQZ_LAYER_FIRE) continue;
      sqz_pool_fold none = {0, 1, 0, l->in_h, l->in_w};
      for (int batch : {1, 8, 256})
        for (sqz_dtype dt : {SQZ_DTYPE_F32, SQZ_DTYPE_F16}) {
          sqz_fused_variant v = sqz_fused_fire_variant(l, &none, dt, batch, 132, limit, 113 << 10);
          ASSERT_GT(v.tile_h, 0) << m->name << " " << l->name;
          EXPECT_LE(v.smem, limit);
          EXPECT_EQ(v.tile_w, 16);
          const bool mult16 = l->in_c % 16 == 0 && l->fire.squeeze.out_channels % 16 == 0 &&
                              l->fire.expand1x1.out_channels % 16 == 0 &&
                              l->fire.expand3x3.out_channels % 16 == 0;
          if (v.math == SQZ_MATH_WMMA) {
            EXPECT_EQ(dt, SQZ_DTYPE_F16);
            EXPECT_TRUE(mult16);
            EXPECT_LE(sqz_round16((v.tile_h + 2) * 18) / 16 * (l->fire.squeeze.out_channels / 16),
                      SQZ_FIRE_WARPS * SQZ_WMMA_MAX_FRAGS);
          }
          if (mi < 3 && dt == SQZ_DTYPE_F16) EXPECT_EQ(v.math, SQZ_MATH_WMMA) << l->name;
          if (mi == 3 && dt == SQZ_DTYPE_F16) EXPECT_EQ(v.math, SQZ_MATH_FMA) << l->name;
        }
      // Large batches take tall tiles; batch 1 smaller ones for parallelism.
      sqz_fused_variant big =
          sqz_fused_fire_variant(l, &none, SQZ_DTYPE_F16, 256, 132, limit, 113 << 10);
      sqz_fused_variant one =
          sqz_fused_fire_variant(l, &none, SQZ_DTYPE_F16, 1, 132, limit, 113 << 10);
      EXPECT_GE(big.tile_h, one.tile_h);
    }
  }
  for (sqz_model *m : models) sqz_model_free(m);
}

// The stem's variant and the tensor-core stem's shared memory: every part
// 32-byte aligned, rows at the ldmatrix strides, the GEMM covering
// every conv pixel of the tile and the whole window, within the H100 limit
// for both built-in stems, and CUDA cores where tensor cores cannot be used.
// v1.1's stem keeps the 4 x 8 tile (40 KB); v1.0's 7x7 window does not
// let two 4 x 8 blocks share an SM (118 KB), so it takes the tile that
// does with the fewest GEMM rows over the image: 5 x 6, 109 KB.
TEST(FusedVariants, StemOnTensorCoresForFp16AndMultiplesOf16) {
  const size_t limit = 227 << 10, two_blocks = 113 << 10;
  struct Case {
    const char *model;
    int tile_h, tile_w;
    int rows, k;  // the GEMM: the conv pixels under the tile's windows; kernel^2 x 3
  } cases[] = {{"squeezenet1_0", 5, 6, 144, 160}, {"squeezenet1_1", 4, 8, 160, 32}};
  for (const Case &c : cases) {
    sqz_model *m = nullptr;
    ASSERT_EQ(sqz_model_builtin(c.model, 0, &m), SQZ_OK);
    const sqz_layer *conv = &m->layers[0], *pool = &m->layers[1];
    const int cout = conv->conv.out_channels;
    const sqz_fused_variant half =
        sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F16, limit, two_blocks);
    EXPECT_EQ(half.math, SQZ_MATH_WMMA) << c.model;
    EXPECT_EQ(half.tile_h, c.tile_h) << c.model;
    EXPECT_EQ(half.tile_w, c.tile_w) << c.model;
    const sqz_stem_geometry g = sqz_fused_stem_geometry(conv, pool, half.tile_h, half.tile_w);
    EXPECT_EQ(g.tiles_y, sqz_div_up(pool->out_h, c.tile_h));
    EXPECT_EQ(g.tiles_x, sqz_div_up(pool->out_w, c.tile_w));
    const sqz_stem_wmma_layout L = sqz_stem_wmma_layout_of(&g, conv->in_c, cout);
    EXPECT_EQ(L.rows, c.rows) << c.model;
    EXPECT_EQ(L.k, c.k) << c.model;
    EXPECT_GE(L.rows, sqz_stem_conv_span(g.tile_h, g.pool_k, g.pool_s) *
                          sqz_stem_conv_span(g.tile_w, g.pool_k, g.pool_s));
    EXPECT_GE(L.k, conv->conv.kernel * conv->conv.kernel * conv->in_c);
    for (size_t offset : {L.a, L.b, L.c}) EXPECT_EQ(offset % 32, 0u) << c.model;
    EXPECT_EQ(L.lda, sqz_mma_stride(L.k));  // conflict-free ldmatrix rows
    EXPECT_EQ(L.ldb, sqz_mma_stride(cout));
    EXPECT_EQ(L.ldc, sqz_mma_stride(cout));
    EXPECT_EQ(L.b - L.a, (size_t)L.rows * L.lda * 2);
    EXPECT_EQ(L.c - L.b, (size_t)L.k * L.ldb * 2);
    EXPECT_EQ(L.bytes - L.c, (size_t)L.rows * L.ldc * 2);
    EXPECT_EQ(half.smem, L.bytes);
    EXPECT_LE(half.smem, two_blocks) << c.model;
    // The default tile where two of its blocks share an SM (v1.1); else
    // (v1.0) no tile up to twice the default's sides that lets them has
    // fewer GEMM rows over the image.
    const sqz_stem_geometry dg =
        sqz_fused_stem_geometry(conv, pool, SQZ_STEM_TILE_H, SQZ_STEM_TILE_W);
    const bool default_fits = sqz_stem_wmma_layout_of(&dg, conv->in_c, cout).bytes <= two_blocks;
    EXPECT_EQ(default_fits, c.tile_h == SQZ_STEM_TILE_H && c.tile_w == SQZ_STEM_TILE_W) << c.model;
    const long chosen = (long)g.tiles_y * g.tiles_x * L.rows;
    for (int th = 1; th <= 2 * SQZ_STEM_TILE_H && !default_fits; th++)
      for (int tw = 1; tw <= 2 * SQZ_STEM_TILE_W; tw++) {
        const sqz_stem_geometry o = sqz_fused_stem_geometry(conv, pool, th, tw);
        const sqz_stem_wmma_layout ol = sqz_stem_wmma_layout_of(&o, conv->in_c, cout);
        if (ol.bytes <= two_blocks)
          EXPECT_GE((long)o.tiles_y * o.tiles_x * ol.rows, chosen) << th << "x" << tw;
      }
    const sqz_fused_variant single =
        sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F32, limit, two_blocks);
    EXPECT_EQ(single.math, SQZ_MATH_FMA);
    EXPECT_EQ(single.tile_h, SQZ_STEM_TILE_H);
    EXPECT_EQ(single.tile_w, SQZ_STEM_TILE_W);
    const sqz_stem_geometry fg =
        sqz_fused_stem_geometry(conv, pool, SQZ_STEM_TILE_H, SQZ_STEM_TILE_W);
    // All 64 channels of v1.1 in one pass; v1.0's 96 (126 KB in one) in two
    // of 48, two blocks an SM.
    EXPECT_EQ(single.chunk, cout == 64 ? 64 : 48) << c.model;
    EXPECT_EQ(single.smem, sqz_stem_smem_bytes(&fg, conv->in_c, single.chunk));
    EXPECT_LE(single.smem, two_blocks);
    if (cout == 96) EXPECT_GT(sqz_stem_smem_bytes(&fg, conv->in_c, cout), two_blocks);
    // One pass where two blocks cannot share an SM but one fits.
    EXPECT_EQ(sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F32, limit, 0).chunk, cout);
    // One group of 8 channels a pass when nothing larger fits; none when
    // not even that does.
    const size_t one_group = sqz_stem_smem_bytes(&fg, conv->in_c, SQZ_STEM_GROUP);
    EXPECT_EQ(sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F32, one_group, 0).chunk,
              SQZ_STEM_GROUP);
    EXPECT_EQ(sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F32, one_group - 1, 0).tile_h, 0);
    // Too little shared memory for the GEMM of even one pooled pixel: CUDA
    // cores, saying why.
    const sqz_stem_geometry pixel = sqz_fused_stem_geometry(conv, pool, 1, 1);
    const size_t least = sqz_stem_wmma_layout_of(&pixel, conv->in_c, cout).bytes;
    const sqz_fused_variant small =
        sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F16, least - 1, least - 1);
    EXPECT_EQ(small.math, SQZ_MATH_FMA);
    EXPECT_NE(std::string(small.why).find("shared memory"), std::string::npos);
    EXPECT_EQ(sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F16, 1024, 512).tile_h, 0);
    sqz_model_free(m);
  }
}

// Where two blocks an SM would need a tile that wastes more than a quarter
// more GEMM rows than the best tile for one block, the stem runs one
// block an SM; where the limit itself is below the default tile, the best
// smaller tile, still on tensor cores.
TEST(FusedVariants, StemTileForTwoBlocksOnlyWhenItWastesLittle) {
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_0", 0, &m), SQZ_OK);
  const sqz_layer *conv = &m->layers[0], *pool = &m->layers[1];
  const auto rows_of = [&](const sqz_fused_variant &v) {
    const sqz_stem_geometry g = sqz_fused_stem_geometry(conv, pool, v.tile_h, v.tile_w);
    return (long)g.tiles_y * g.tiles_x * sqz_stem_wmma_layout_of(&g, 3, 96).rows;
  };
  // An SM of 100 KB: two blocks would need 16-row GEMMs (1 x 2 pooled).
  const sqz_fused_variant one =
      sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F16, 99 << 10, 49 << 10);
  EXPECT_EQ(one.math, SQZ_MATH_WMMA);
  EXPECT_GT(one.smem, (size_t)49 << 10);
  EXPECT_LE(one.smem, (size_t)99 << 10);
  const sqz_fused_variant tiny = sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F16, 49 << 10, 0);
  EXPECT_EQ(tiny.math, SQZ_MATH_WMMA);
  EXPECT_GT(rows_of(tiny) * 4, rows_of(one) * 5);
  // An A100's 164 KB: two blocks of 3 x 5 (75 KB) cost under a quarter more.
  const sqz_fused_variant a100 =
      sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F16, 163 << 10, 81 << 10);
  const sqz_fused_variant a100_one =
      sqz_fused_stem_variant(conv, pool, SQZ_DTYPE_F16, 163 << 10, 0);
  EXPECT_LE(a100.smem, (size_t)81 << 10);
  EXPECT_EQ(a100_one.tile_h, SQZ_STEM_TILE_H);  // one block: the default fits
  EXPECT_EQ(a100_one.tile_w, SQZ_STEM_TILE_W);
  EXPECT_LE(rows_of(a100) * 4, rows_of(a100_one) * 5);
  sqz_model_free(m);
}

TEST(FusedVariants, StemOnCudaCoresWhenOutputChannelsAreNotMultiplesOf16) {
  const size_t limit = 227 << 10;
  // Output channels that are not a multiple of 16 stay on CUDA cores.
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_begin("narrow", 3, 32, 32, &m), SQZ_OK);
  ASSERT_EQ(sqz_model_add_conv(m, "conv1", 24, 3, 2, 0, 1), SQZ_OK);
  ASSERT_EQ(sqz_model_add_fire(m, "fire2", 8, 16, 16, SQZ_BYPASS_NONE), SQZ_OK);
  ASSERT_EQ(sqz_model_add_conv(m, "conv10", 4, 1, 1, 0, 1), SQZ_OK);
  ASSERT_EQ(sqz_model_add_global_avgpool(m, "gap"), SQZ_OK);
  ASSERT_EQ(sqz_model_finish(m), SQZ_OK);
  const sqz_fused_variant v =
      sqz_fused_stem_variant(&m->layers[0], nullptr, SQZ_DTYPE_F16, limit, limit / 2);
  EXPECT_EQ(v.math, SQZ_MATH_FMA);
  EXPECT_NE(std::string(v.why).find("multiple of 16"), std::string::npos);
  sqz_model_free(m);
}

// The tensor-core classifier's shared memory: the partial sums, then a
// ring of 2 or 3 A buffers and as many B buffers (the chunk's weight rows
// of a block's 128 classes), at the conflict-free ldmatrix strides, every
// buffer 16-byte aligned; three where two blocks still share an SM (an
// H100's: 228 KB, 1 KB reserved per block), else two.
TEST(FusedVariants, ClassifierOnTensorCoresStagesItsWeightsWithItsRows) {
  const int a_buf = 8 * 16 * SQZ_CLASSIFIER_A_STRIDE * 2;
  const int b_buf = SQZ_CLASSIFIER_CHUNK * SQZ_CLASSIFIER_B_STRIDE * 2;
  EXPECT_EQ(SQZ_CLASSIFIER_BUFFER_BYTES, a_buf + b_buf);
  EXPECT_EQ(SQZ_CLASSIFIER_SUMS_BYTES, 8 * 128 * 4);
  EXPECT_EQ(sqz_classifier_wmma_smem(2), (size_t)(8 * 128 * 4 + 2 * a_buf + 2 * b_buf));
  EXPECT_EQ(a_buf % 16, 0);
  EXPECT_EQ(b_buf % 16, 0);
  EXPECT_EQ(SQZ_CLASSIFIER_A_STRIDE, sqz_mma_stride(SQZ_CLASSIFIER_CHUNK));
  EXPECT_EQ(SQZ_CLASSIFIER_B_STRIDE, sqz_mma_stride(128));  // a block's 8 class tiles
  const size_t h100 = sqz_fused_two_block_smem(228 << 10, 1 << 10);
  const size_t deepest = SQZ_CLASSIFIER_SUMS_BYTES + 3 * (size_t)SQZ_CLASSIFIER_BUFFER_BYTES;
  EXPECT_LE(deepest, h100);

  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &m), SQZ_OK);
  const sqz_layer *conv10 = &m->layers[m->num_layers - 2];
  const sqz_fused_variant half =
      sqz_fused_classifier_variant(conv10, SQZ_DTYPE_F16, 227 << 10, h100);
  EXPECT_EQ(half.math, SQZ_MATH_WMMA);
  EXPECT_EQ(half.in_buffers, 3);
  EXPECT_EQ(half.smem, deepest);
  EXPECT_EQ(half.tile_h, 1);
  const sqz_fused_variant a100 =  // 164 KB an SM: two blocks of 81 KB
      sqz_fused_classifier_variant(conv10, SQZ_DTYPE_F16, 163 << 10,
                                   sqz_fused_two_block_smem(164 << 10, 1 << 10));
  EXPECT_EQ(a100.in_buffers, 2);
  EXPECT_EQ(a100.smem, sqz_classifier_wmma_smem(2));
  EXPECT_EQ(sqz_fused_classifier_variant(conv10, SQZ_DTYPE_F16, sqz_classifier_wmma_smem(2) - 1, 0)
                .tile_h,
            0);  // does not fit
  EXPECT_EQ(sqz_fused_classifier_variant(conv10, SQZ_DTYPE_F32, 227 << 10, h100).math,
            SQZ_MATH_FMA);
  sqz_model_free(m);
}

}  // namespace
