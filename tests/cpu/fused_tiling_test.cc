// The fused kernels' tiling and index logic, run on the CPU: an emulation
// of each kernel's algorithm built from the same geometry functions
// (fused_tiling.h) and the same weight packing, against the reference ops.
// Also the per-layer variant table and the buffer plan.
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

// NCHW (one image) to NHWC.
std::vector<float> ToNhwc(const std::vector<float> &nchw, int c, int h, int w) {
  std::vector<float> out(nchw.size());
  for (int ch = 0; ch < c; ch++)
    for (int p = 0; p < h * w; p++) out[(size_t)p * c + ch] = nchw[(size_t)ch * h * w + p];
  return out;
}

std::vector<float> Hwio(const std::vector<float> &oihw, int o, int i, int k) {
  std::vector<float> out(oihw.size());
  sqz_pack_conv_weights(oihw.data(), o, i, k, SQZ_WEIGHTS_HWIO, SQZ_DTYPE_F32, out.data());
  return out;
}

struct FireCase {
  int cin, s, e1, e3;
  sqz_bypass bypass;
  int src, pool;  // source size; pool 1: a 3x3/2 ceil-mode pool is folded in
  int tile_h;
};

// The reference: [pool,] squeeze + ReLU, expands + ReLU, concat, bypass.
std::vector<float> ReferenceFire(const FireCase &c, const std::vector<float> &src, int *h, int *w,
                                 const std::vector<float> *wt) {
  std::vector<float> in = src;
  *h = *w = c.src;
  if (c.pool) {
    int oh = sqz_pool_out_size(c.src, 3, 2, 0);
    std::vector<float> pooled((size_t)c.cin * oh * oh);
    sqz_ref_maxpool(src.data(), c.cin, c.src, c.src, 3, 2, 0, pooled.data(), oh, oh);
    in = pooled;
    *h = *w = oh;
  }
  const int hw = *h * *w;
  auto conv = [&](const std::vector<float> &x, int ci, int co, int k, const float *weight,
                  const float *bias, int relu, float *out, int acc) {
    sqz_ref_conv_shape s = {ci, *h, *w, co, *h, *w, k, 1, k / 2};
    std::vector<float> scratch(sqz_ref_conv2d_scratch(&s) + 1);
    sqz_ref_conv2d(&s, x.data(), weight, bias, relu, acc, out, scratch.data());
  };
  std::vector<float> sq((size_t)c.s * hw), out((size_t)(c.e1 + c.e3) * hw);
  conv(in, c.cin, c.s, 1, wt[0].data(), wt[1].data(), 1, sq.data(), 0);
  conv(sq, c.s, c.e1, 1, wt[2].data(), wt[3].data(), 1, out.data(), 0);
  conv(sq, c.s, c.e3, 3, wt[4].data(), wt[5].data(), 1, out.data() + (size_t)c.e1 * hw, 0);
  if (c.bypass == SQZ_BYPASS_SIMPLE) sqz_ref_add(out.data(), in.data(), out.size());
  if (c.bypass == SQZ_BYPASS_COMPLEX)
    conv(in, c.cin, c.e1 + c.e3, 1, wt[6].data(), wt[7].data(), 0, out.data(), 1);
  return out;
}

// The fused kernel's algorithm, tile by tile, NHWC, from the geometry
// functions; `rowwise` reads 3x3 taps the way the tensor-core kernel does
// (16 consecutive halo pixels from the tap of the row's first pixel).
std::vector<float> EmulatedFire(const FireCase &c, const std::vector<float> &src_nhwc, int h, int w,
                                const std::vector<float> *wt, bool rowwise) {
  sqz_pool_fold pool = {c.pool ? 3 : 0, c.pool ? 2 : 1, 0, c.src, c.src};
  sqz_fire_geometry g = sqz_fire_geometry_make(h, w, c.tile_h, 16, pool);
  const int e = c.e1 + c.e3;
  auto w_sq = Hwio(wt[0], c.s, c.cin, 1), w1 = Hwio(wt[2], c.e1, c.s, 1);
  auto w3 = Hwio(wt[4], c.e3, c.s, 3);
  std::vector<float> w_sc =
      c.bypass == SQZ_BYPASS_COMPLEX ? Hwio(wt[6], e, c.cin, 1) : std::vector<float>();
  auto input = [&](int y, int x, int ch) {
    int r0, r1, q0, q1;
    sqz_pool_window(&pool, y, x, &r0, &r1, &q0, &q1);
    EXPECT_LT(r0, r1);
    EXPECT_LT(q0, q1);
    float m = -INFINITY;
    for (int r = r0; r < r1; r++)
      for (int q = q0; q < q1; q++) m = std::max(m, src_nhwc[((size_t)r * c.src + q) * c.cin + ch]);
    return m;
  };
  std::vector<float> out((size_t)h * w * e, NAN);
  for (int t = 0; t < g.tiles_y * g.tiles_x; t++) {
    int y0, x0;
    sqz_tile_origin(&g, t, &y0, &x0);
    // Squeeze for the tile and its halo; zero outside the image.
    const int halo = sqz_halo_pixels(&g);
    std::vector<float> sq((size_t)halo * c.s);
    for (int hp = 0; hp < halo; hp++) {
      int y, x;
      const bool inside = sqz_halo_to_image(&g, y0, x0, hp, &y, &x);
      for (int s = 0; s < c.s; s++) {
        float acc = wt[1][s];
        for (int k = 0; inside && k < c.cin; k++) acc += input(y, x, k) * w_sq[(size_t)k * c.s + s];
        sq[(size_t)hp * c.s + s] = inside ? std::max(acc, 0.0f) : 0.0f;
      }
    }
    for (int ty = 0; ty < g.tile_h; ty++)
      for (int tx = 0; tx < g.tile_w; tx++) {
        const int y = y0 + ty, x = x0 + tx;
        if (y >= h || x >= w) continue;
        float *dst = &out[((size_t)y * w + x) * e];
        for (int ch = 0; ch < c.e1; ch++) {
          float acc = wt[3][ch];
          const int hp = sqz_halo_tap(&g, ty, tx, 0, 0);
          for (int s = 0; s < c.s; s++) acc += sq[(size_t)hp * c.s + s] * w1[(size_t)s * c.e1 + ch];
          dst[ch] = std::max(acc, 0.0f);
        }
        for (int ch = 0; ch < c.e3; ch++) {
          float acc = wt[5][ch];
          for (int tap = 0; tap < 9; tap++) {
            const int dy = tap / 3 - 1, dx = tap % 3 - 1;
            const int hp =
                rowwise ? sqz_halo_tap(&g, ty, 0, dy, dx) + tx : sqz_halo_tap(&g, ty, tx, dy, dx);
            for (int s = 0; s < c.s; s++)
              acc += sq[(size_t)hp * c.s + s] * w3[((size_t)tap * c.s + s) * c.e3 + ch];
          }
          dst[c.e1 + ch] = std::max(acc, 0.0f);
        }
        for (int ch = 0; ch < e; ch++) {
          if (c.bypass == SQZ_BYPASS_SIMPLE) dst[ch] += input(y, x, ch);
          if (c.bypass == SQZ_BYPASS_COMPLEX) {
            float acc = wt[7][ch];
            for (int k = 0; k < c.cin; k++) acc += input(y, x, k) * w_sc[(size_t)k * e + ch];
            dst[ch] += acc;
          }
        }
      }
  }
  return out;
}

class FusedFire : public ::testing::TestWithParam<FireCase> {};

TEST_P(FusedFire, EmulationMatchesTheReference) {
  const FireCase c = GetParam();
  const int e = c.e1 + c.e3;
  std::vector<float> wt[8] = {
      sqz_test::RandomVector((size_t)c.s * c.cin, 1),    sqz_test::RandomVector(c.s, 2),
      sqz_test::RandomVector((size_t)c.e1 * c.s, 3),     sqz_test::RandomVector(c.e1, 4),
      sqz_test::RandomVector((size_t)c.e3 * c.s * 9, 5), sqz_test::RandomVector(c.e3, 6),
      sqz_test::RandomVector((size_t)e * c.cin, 7),      sqz_test::RandomVector(e, 8)};
  auto src = sqz_test::RandomVector((size_t)c.cin * c.src * c.src, 9, -1, 1);
  int h = 0, w = 0;
  auto ref = ReferenceFire(c, src, &h, &w, wt);  // sets h and w
  auto want = ToNhwc(ref, e, h, w);
  auto src_nhwc = ToNhwc(src, c.cin, c.src, c.src);
  for (bool rowwise : {false, true}) {
    auto got = EmulatedFire(c, src_nhwc, h, w, wt, rowwise);
    float scale = 1e-3f;
    for (float v : want) scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < want.size(); i++)
      ASSERT_NEAR(got[i], want[i], 1e-4f * scale) << "element " << i << " rowwise " << rowwise;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FusedFire,
    ::testing::Values(FireCase{8, 4, 4, 4, SQZ_BYPASS_NONE, 1, 0, 1},
                      FireCase{8, 4, 4, 4, SQZ_BYPASS_SIMPLE, 7, 0, 2},
                      FireCase{6, 3, 5, 7, SQZ_BYPASS_NONE, 13, 0, 8},
                      FireCase{8, 2, 3, 5, SQZ_BYPASS_SIMPLE, 27, 1, 4},  // pooled to 13
                      FireCase{5, 4, 6, 2, SQZ_BYPASS_COMPLEX, 27, 0, 4},
                      FireCase{4, 2, 2, 2, SQZ_BYPASS_NONE, 55, 1, 8},  // pooled to 27
                      FireCase{3, 2, 2, 1, SQZ_BYPASS_COMPLEX, 57, 0, 2},
                      FireCase{3, 1, 1, 2, SQZ_BYPASS_SIMPLE, 113, 1, 8}));  // pooled to 56

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

// The stem: conv + ReLU + pool per tile of pooled pixels, from the conv
// region the geometry says a tile needs.
TEST(FusedStem, EmulationMatchesConvReluPool) {
  struct Case {
    int in, k, s, p;
  } cases[] = {{227, 7, 2, 0}, {224, 3, 2, 0}, {57, 7, 2, 0}, {35, 3, 2, 1}};
  for (const Case &cs : cases) {
    const int cin = 3, cout = 5;
    sqz_model *m = nullptr;
    ASSERT_EQ(sqz_model_begin("stem", 3, cs.in, cs.in, &m), SQZ_OK);
    ASSERT_EQ(sqz_model_add_conv(m, "conv1", cout, cs.k, cs.s, cs.p, 1), SQZ_OK);
    ASSERT_EQ(sqz_model_add_maxpool(m, "pool1", 3, 2, 0), SQZ_OK);
    ASSERT_EQ(sqz_model_add_global_avgpool(m, "gap"), SQZ_OK);
    ASSERT_EQ(sqz_model_finish(m), SQZ_OK);
    const sqz_layer *conv = &m->layers[0], *pool = &m->layers[1];
    sqz_stem_geometry g = sqz_fused_stem_geometry(conv, pool);
    auto in = sqz_test::RandomVector((size_t)cin * cs.in * cs.in, 3);
    auto wt = sqz_test::RandomVector((size_t)cout * cin * cs.k * cs.k, 4);
    auto bias = sqz_test::RandomVector(cout, 5);
    // Reference.
    sqz_ref_conv_shape shape = {cin, cs.in, cs.in, cout, g.conv_h, g.conv_w, cs.k, cs.s, cs.p};
    std::vector<float> convout((size_t)cout * g.conv_h * g.conv_w),
        scratch(sqz_ref_conv2d_scratch(&shape) + 1), want((size_t)cout * g.out_h * g.out_w);
    sqz_ref_conv2d(&shape, in.data(), wt.data(), bias.data(), 1, 0, convout.data(), scratch.data());
    sqz_ref_maxpool(convout.data(), cout, g.conv_h, g.conv_w, 3, 2, 0, want.data(), g.out_h,
                    g.out_w);
    // Emulation, NHWC, HWIO weights.
    auto in_nhwc = ToNhwc(in, cin, cs.in, cs.in);
    auto w = Hwio(wt, cout, cin, cs.k);
    const int rows = sqz_stem_conv_span(g.tile_h, g.pool_k, g.pool_s);
    const int cols = sqz_stem_conv_span(g.tile_w, g.pool_k, g.pool_s);
    std::vector<float> got((size_t)g.out_h * g.out_w * cout, NAN);
    for (int t = 0; t < g.tiles_y * g.tiles_x; t++) {
      int py0, px0, cy0, cx0;
      sqz_stem_tile_origin(&g, t, &py0, &px0, &cy0, &cx0);
      std::vector<float> region((size_t)rows * cols * cout);
      for (int r = 0; r < rows; r++)
        for (int q = 0; q < cols; q++)
          for (int o = 0; o < cout; o++) {
            float acc = bias[o];
            for (int ky = 0; ky < cs.k; ky++)
              for (int kx = 0; kx < cs.k; kx++)
                for (int ci = 0; ci < cin; ci++) {
                  const int y = (cy0 + r) * cs.s - cs.p + ky, x = (cx0 + q) * cs.s - cs.p + kx;
                  if (y < 0 || y >= cs.in || x < 0 || x >= cs.in) continue;
                  acc += in_nhwc[((size_t)y * cs.in + x) * cin + ci] *
                         w[((size_t)(ky * cs.k + kx) * cin + ci) * cout + o];
                }
            region[((size_t)r * cols + q) * cout + o] = std::max(acc, 0.0f);
          }
      const sqz_pool_fold fold = {g.pool_k, g.pool_s, g.pool_p, g.conv_h, g.conv_w};
      for (int p = 0; p < g.tile_h * g.tile_w; p++) {
        const int py = py0 + p / g.tile_w, px = px0 + p % g.tile_w;
        if (py >= g.out_h || px >= g.out_w) continue;
        int r0, r1, q0, q1;
        sqz_pool_window(&fold, py, px, &r0, &r1, &q0, &q1);
        for (int o = 0; o < cout; o++) {
          float mx = -INFINITY;
          for (int y = r0; y < r1; y++)
            for (int x = q0; x < q1; x++) {
              ASSERT_GE(y - cy0, 0);
              ASSERT_LT(y - cy0, rows);
              ASSERT_LT(x - cx0, cols);
              mx = std::max(mx, region[((size_t)(y - cy0) * cols + (x - cx0)) * cout + o]);
            }
          got[((size_t)py * g.out_w + px) * cout + o] = mx;
        }
      }
    }
    auto want_nhwc = ToNhwc(want, cout, g.out_h, g.out_w);
    for (size_t i = 0; i < got.size(); i++) ASSERT_NEAR(got[i], want_nhwc[i], 1e-4f) << cs.in;
    EXPECT_LT(sqz_stem_smem_bytes(&g, cin, SQZ_STEM_CHUNK), (size_t)48 << 10);
    sqz_model_free(m);
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
          sqz_fused_variant v = sqz_fused_fire_variant(l, &none, dt, batch, 132, limit);
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
      sqz_fused_variant big = sqz_fused_fire_variant(l, &none, SQZ_DTYPE_F16, 256, 132, limit);
      sqz_fused_variant one = sqz_fused_fire_variant(l, &none, SQZ_DTYPE_F16, 1, 132, limit);
      EXPECT_GE(big.tile_h, one.tile_h);
    }
  }
  for (sqz_model *m : models) sqz_model_free(m);
}

}  // namespace
