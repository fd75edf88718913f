/* Internal: the geometry of the fused kernels, as plain functions that the
 * CUDA kernels and the CPU tests share. A fused Fire kernel computes a tile
 * of tile_h x tile_w output pixels of one image: it first computes the
 * squeeze output for the tile plus a 1-pixel halo (what the 3x3 expand
 * needs), reading its input through the max pool that precedes the module
 * when there is one, then both expands from there. */
#ifndef SQZ_KERNELS_CUDA_FUSED_TILING_H
#define SQZ_KERNELS_CUDA_FUSED_TILING_H

#ifdef __CUDACC__
#define SQZ_HD __host__ __device__ __forceinline__
#else
#define SQZ_HD static inline
#endif

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Block shape of the fused Fire kernels: 8 warps; the squeeze streams its
 * input channels in chunks; the tensor-core kernel keeps at most 8
 * accumulator fragments per warp in the squeeze and 8 tile rows. */
enum {
  SQZ_FIRE_THREADS = 256,
  SQZ_FIRE_WARPS = 8,
  SQZ_FIRE_CHUNK = 32,
  SQZ_WMMA_MAX_FRAGS = 8,
  SQZ_WMMA_MAX_TILE_H = 8,
  SQZ_WMMA_TILE_W = 16, /* one tile row is one 16-row fragment */
  /* The row stride, in halves, of a warp's 16 x 16 result tile in its
   * stage: 48 bytes, an odd multiple of 16, so that neither the
   * accumulators' 4-byte stores (8 rows x 4 pairs) nor the 16-byte reads of
   * 8 consecutive rows conflict. */
  SQZ_WMMA_RESULT_LD = 24
};

/* A max pool folded into the read of a tensor: output pixel (y, x) is the
 * max over source rows [y*stride - pad, +kernel) and columns likewise,
 * clipped to the source. kernel 0 means no pool (identity). */
typedef struct sqz_pool_fold {
  int kernel, stride, pad;
  int src_h, src_w; /* the tensor actually read */
} sqz_pool_fold;

/* One image's Fire tile grid and halo. */
typedef struct sqz_fire_geometry {
  int height, width;    /* the module's input (after the pool) = output */
  int tile_h, tile_w;   /* output pixels per block */
  int tiles_y, tiles_x; /* tiles per image */
  sqz_pool_fold pool;
} sqz_fire_geometry;

SQZ_HD int sqz_div_up(int a, int b) { return (a + b - 1) / b; }

SQZ_HD sqz_fire_geometry sqz_fire_geometry_make(int height, int width, int tile_h, int tile_w,
                                                sqz_pool_fold pool) {
  sqz_fire_geometry g;
  g.height = height;
  g.width = width;
  g.tile_h = tile_h;
  g.tile_w = tile_w;
  g.tiles_y = sqz_div_up(height, tile_h);
  g.tiles_x = sqz_div_up(width, tile_w);
  g.pool = pool;
  return g;
}

SQZ_HD int sqz_halo_h(const sqz_fire_geometry *g) { return g->tile_h + 2; }
SQZ_HD int sqz_halo_w(const sqz_fire_geometry *g) { return g->tile_w + 2; }
SQZ_HD int sqz_halo_pixels(const sqz_fire_geometry *g) { return sqz_halo_h(g) * sqz_halo_w(g); }

/* The top-left output pixel of tile t (0 <= t < tiles_y * tiles_x). */
SQZ_HD void sqz_tile_origin(const sqz_fire_geometry *g, int t, int *y0, int *x0) {
  *y0 = (t / g->tiles_x) * g->tile_h;
  *x0 = (t % g->tiles_x) * g->tile_w;
}

/* The image pixel of halo pixel hp of the tile at (y0, x0); returns whether
 * it lies inside the image (outside, the squeeze output counts as the 3x3
 * expand's zero padding). */
SQZ_HD int sqz_halo_to_image(const sqz_fire_geometry *g, int y0, int x0, int hp, int *y, int *x) {
  *y = y0 - 1 + hp / sqz_halo_w(g);
  *x = x0 - 1 + hp % sqz_halo_w(g);
  return *y >= 0 && *y < g->height && *x >= 0 && *x < g->width;
}

/* The halo pixel that output pixel (ty, tx) of the tile sees at tap
 * (dy, dx), dy and dx in -1..1. */
SQZ_HD int sqz_halo_tap(const sqz_fire_geometry *g, int ty, int tx, int dy, int dx) {
  return (ty + 1 + dy) * sqz_halo_w(g) + (tx + 1 + dx);
}

/* The source window [*r0, *r1) x [*c0, *c1) whose max is pixel (y, x) of
 * the pooled tensor (one pixel when there is no pool). Never empty for a
 * pixel inside the pooled tensor. */
SQZ_HD void sqz_pool_window(const sqz_pool_fold *p, int y, int x, int *r0, int *r1, int *c0,
                            int *c1) {
  if (p->kernel == 0) {
    *r0 = y;
    *r1 = y + 1;
    *c0 = x;
    *c1 = x + 1;
    return;
  }
  int ys = y * p->stride - p->pad, xs = x * p->stride - p->pad;
  *r0 = ys < 0 ? 0 : ys;
  *c0 = xs < 0 ? 0 : xs;
  *r1 = ys + p->kernel > p->src_h ? p->src_h : ys + p->kernel;
  *c1 = xs + p->kernel > p->src_w ? p->src_w : xs + p->kernel;
}

/* The stem: conv (kernel, stride, pad) then a max pool, one block per tile
 * of pool_tile_h x pool_tile_w pooled pixels; the block computes the conv
 * outputs its pool windows cover (a region of conv_rows x conv_cols
 * starting at conv pixel (*cy0, *cx0)). */
typedef struct sqz_stem_geometry {
  int in_h, in_w;             /* network input */
  int conv_h, conv_w;         /* conv output */
  int out_h, out_w;           /* pooled output */
  int kernel, stride, pad;    /* conv */
  int pool_k, pool_s, pool_p; /* 1, 1, 0 when no pool follows */
  int tile_h, tile_w;         /* pooled pixels per block */
  int tiles_y, tiles_x;
} sqz_stem_geometry;

/* Conv rows/cols a tile's pool windows touch (the span, before clipping). */
SQZ_HD int sqz_stem_conv_span(int tile, int pool_k, int pool_s) {
  return (tile - 1) * pool_s + pool_k;
}

/* Conv-output origin of pooled tile t (may be negative with pool padding). */
SQZ_HD void sqz_stem_tile_origin(const sqz_stem_geometry *g, int t, int *py0, int *px0, int *cy0,
                                 int *cx0) {
  *py0 = (t / g->tiles_x) * g->tile_h;
  *px0 = (t % g->tiles_x) * g->tile_w;
  *cy0 = *py0 * g->pool_s - g->pool_p;
  *cx0 = *px0 * g->pool_s - g->pool_p;
}

SQZ_HD int sqz_round16(int v) { return (v + 15) / 16 * 16; }
SQZ_HD int sqz_round4(int v) { return (v + 3) / 4 * 4; }

/* t / n for 0 <= t < 64 and 1 <= n <= 64 without a division: t times
 * ceil(2^16 / n), shifted down 16 bits. Exact there, because t times the
 * reciprocal's rounding error (below n) stays under 2^16. */
SQZ_HD int sqz_recip16(int n) { return 65535 / n + 1; }
SQZ_HD int sqz_div_recip16(int t, int recip) { return t * recip >> 16; }

/* The squeeze's output tiles (rows row tiles of the halo x n column
 * tiles) dealt to one of the 8 warps. When n <= 8 and every share fits
 * SQZ_WMMA_MAX_FRAGS, warp w keeps one column tile, w % n, and takes every
 * step-th row tile from w / n, step being the number of warps on that
 * column: one B operand per k step serves all its tiles, and its A rows
 * are a fixed stride apart. Otherwise (fixed = 0): tiles t = w + 8 j, row
 * tile t / n, column tile t % n. Either way warp w has `count` tiles. */
typedef struct sqz_squeeze_deal {
  int fixed, nt, mt0, step, count;
} sqz_squeeze_deal;

SQZ_HD sqz_squeeze_deal sqz_squeeze_deal_of(int warp, int rows, int n) {
  sqz_squeeze_deal d = {0, 0, 0, 0, 0};
  const int fewest = n <= SQZ_FIRE_WARPS ? SQZ_FIRE_WARPS / n : 0; /* warps on a column */
  if (fewest > 0 && (rows + fewest - 1) / fewest <= SQZ_WMMA_MAX_FRAGS) {
    d.fixed = 1;
    d.nt = warp % n;
    d.mt0 = warp / n;
    d.step = (SQZ_FIRE_WARPS - d.nt + n - 1) / n;
    d.count = rows > d.mt0 ? (rows - d.mt0 + d.step - 1) / d.step : 0;
    return d;
  }
  d.count = rows * n > warp ? (rows * n - warp + SQZ_FIRE_WARPS - 1) / SQZ_FIRE_WARPS : 0;
  return d;
}

/* The row stride, in halves, of a shared fp16 matrix with `cols` columns
 * (a multiple of 16) that WMMA fragments start in at any row: a multiple of
 * 16 halves keeps every fragment 32-byte aligned, and an odd multiple of
 * 16 (a stride of 32 bytes modulo 64) spreads the 8 rows of each
 * 16-byte-per-row matrix load over the 32 banks at most 2-way. */
SQZ_HD int sqz_wmma_stride(int cols) { return cols % 32 == 16 ? cols : cols + 16; }

/* The row stride, in halves, of a shared fp16 matrix with `cols` columns
 * (a multiple of 16) that only ldmatrix reads (the Fire kernel's squeeze
 * output, input chunks and their weight rows, and the complex bypass's
 * input): its rows need only be 16-byte aligned, so an odd multiple of 16
 * bytes puts the 8 rows of each 8 x 8 matrix load on 8 distinct groups of
 * 4 banks, without conflicts (WMMA's 32-byte strides give 2-way ones). */
SQZ_HD int sqz_mma_stride(int cols) { return cols + 8; }

/* The squeeze's input chunks: one buffer when the input is read through a
 * folded pool (the threads take the max themselves, between barriers);
 * read as it is, a ring of 2 to SQZ_WMMA_MAX_IN_BUFFERS buffers, filled
 * by asynchronous copies buffers - 1 chunks ahead of the tensor cores
 * (sqz_wmma_in_buffers_for picks how many). */
enum { SQZ_WMMA_MAX_IN_BUFFERS = 4 };

/* Shared memory of the tensor-core Fire kernel, in bytes (fp16):
 *   squeeze output  halo pixels (rounded to 16) x stride(squeeze)
 *   input chunks    in_buffers x (halo pixels (rounded to 16) x stride(chunk),
 *                   then the chunk's 32 rows of squeeze weights x
 *                   stride(squeeze), copied with it)
 *   staging         8 warps x 768 bytes (always last): a 16 x 16 half
 *                   result tile (SQZ_WMMA_RESULT_LD halves a row)
 * and for the complex bypass, afterwards, the tile's input
 *   (tile_h * 16) x stride(cin) from the start. */
SQZ_HD size_t sqz_wmma_sq_bytes(int tile_h, int tile_w, int squeeze) {
  return (size_t)sqz_round16((tile_h + 2) * (tile_w + 2)) * (size_t)sqz_mma_stride(squeeze) * 2;
}
SQZ_HD size_t sqz_wmma_chunk_pixels_bytes(int tile_h, int tile_w) {
  return sqz_wmma_sq_bytes(tile_h, tile_w, SQZ_FIRE_CHUNK);  // the same rows, 32 channels
}
SQZ_HD size_t sqz_wmma_in_bytes(int tile_h, int tile_w, int squeeze) {
  return sqz_wmma_chunk_pixels_bytes(tile_h, tile_w) +
         (size_t)SQZ_FIRE_CHUNK * (size_t)sqz_mma_stride(squeeze) * 2;
}
SQZ_HD size_t sqz_wmma_warp_stage_bytes(void) { return (size_t)16 * SQZ_WMMA_RESULT_LD * 2; }
SQZ_HD size_t sqz_wmma_stage_bytes(void) { return SQZ_FIRE_WARPS * sqz_wmma_warp_stage_bytes(); }
SQZ_HD size_t sqz_wmma_center_bytes(int tile_h, int tile_w, int cin) {
  return (size_t)tile_h * tile_w * (size_t)sqz_mma_stride(cin) * 2;
}
SQZ_HD size_t sqz_wmma_fire_smem(int tile_h, int tile_w, int cin, int squeeze, int complex_bypass,
                                 int in_buffers) {
  size_t body = sqz_wmma_sq_bytes(tile_h, tile_w, squeeze) +
                (size_t)in_buffers * sqz_wmma_in_bytes(tile_h, tile_w, squeeze);
  size_t center = complex_bypass ? sqz_wmma_center_bytes(tile_h, tile_w, cin) : 0;
  return (body > center ? body : center) + sqz_wmma_stage_bytes();
}

/* How many input chunk buffers the tensor-core Fire kernel gets (above):
 * 1 through a folded pool; else the most, up to SQZ_WMMA_MAX_IN_BUFFERS
 * and the number of chunks, whose shared memory stays within `budget`
 * bytes (the planner's: what still lets two blocks share an SM), and at
 * least 2. With one chunk in flight a block's copies stop while it waits
 * at each chunk's barrier; with more, the next ones are already on their
 * way, so more bytes are in flight per SM for the same blocks. */
SQZ_HD int sqz_wmma_in_buffers_for(const sqz_pool_fold *pool, int tile_h, int tile_w, int cin,
                                   int squeeze, int complex_bypass, size_t budget) {
  const int chunks = (cin + SQZ_FIRE_CHUNK - 1) / SQZ_FIRE_CHUNK;
  int b = chunks < SQZ_WMMA_MAX_IN_BUFFERS ? chunks : SQZ_WMMA_MAX_IN_BUFFERS;
  if (pool->kernel) return 1;
  if (b < 2) b = 2;
  while (b > 2 && sqz_wmma_fire_smem(tile_h, tile_w, cin, squeeze, complex_bypass, b) > budget) b--;
  return b;
}

/* The tensor-core Fire kernel's expand and shortcut weights, packed in
 * the order of the MMA's B registers (mma_tile.cuh; m16n8k16 B: lane l
 * holds column l / 4, rows 2 (l % 4), + 1, + 8, + 9): a [k_rows x n] HWIO
 * matrix (k_rows and n multiples of 16) as, per 16-column tile, per step
 * of 16 rows, per lane, its 8 halves: b0, b1 of columns 0-7, then b2, b3
 * of columns 8-15, each register's lower row first. One 16-byte load a
 * lane is then a step's whole B operand, and a warp's is 512 contiguous
 * bytes. Element i of the packed array is element (*k, *n) of the matrix.
 * The kernel loads SQZ_MMA_B_AHEAD steps ahead, also past a tile's last
 * step (not used): a buffer of packed weights ends with that many steps
 * of padding, so those loads stay inside it. */
enum { SQZ_MMA_B_AHEAD = 2, SQZ_MMA_B_STEP_HALVES = 256 };
SQZ_HD void sqz_mma_b_source(size_t i, int k_rows, int *k, int *n) {
  const int e = (int)(i % 8), lane = (int)(i / 8 % 32), steps = k_rows / 16;
  const size_t tile_step = i / 256; /* a step's tile: 32 lanes x 8 halves */
  const int step = (int)(tile_step % (size_t)steps), nt = (int)(tile_step / (size_t)steps);
  const int r = e / 2;
  *k = step * 16 + 8 * (r & 1) + 2 * (lane % 4) + e % 2;
  *n = nt * 16 + 8 * (r >> 1) + lane / 4;
}

/* The tensor-core expand's work, dealt to the 8 warps. A 3x3 output
 * channel tile costs nine times the MMAs of a 1x1 one, so tiles dealt
 * round-robin left some warps with 9x the work of others (fire2/3: four
 * warps with the 1x1 tiles, four with the 3x3). Work items are a channel
 * tile and a range of its rows: each 3x3 tile split into `parts` row
 * ranges of `rows` rows (as many as make their count a multiple of the
 * warps, each of at least two rows), then the 1x1 tiles whole; they are
 * dealt in that order, by cost, each to the warp with the least work so
 * far (ties to the lowest). Every block has the same deal, so the launcher
 * computes it once: bit i of mine[w] says that item i is warp w's. Past
 * 64 items the 3x3 tiles are not split, and past 64 again (1024 output
 * channels) items go round-robin (dealt 0, mine unused). */
enum { SQZ_EXPAND_MAX_ITEMS = 64 };

typedef struct sqz_expand_deal {
  int parts, rows, items;
  int dealt;
  unsigned long long mine[SQZ_FIRE_WARPS];
} sqz_expand_deal;

/* Item i's channel tile *nt (of the concatenated output, 3x3 tiles after
 * the t1 1x1 ones) and tile rows [*r0, *r1) (empty if *r0 >= *r1). */
SQZ_HD void sqz_expand_item(const sqz_expand_deal *d, int t1, int t3, int tile_h, int i, int *nt,
                            int *r0, int *r1) {
  const int items3 = t3 * d->parts;
  if (i < items3) {
    *nt = t1 + i / d->parts;
    *r0 = i % d->parts * d->rows;
    *r1 = *r0 + d->rows < tile_h ? *r0 + d->rows : tile_h;
  } else {
    *nt = i - items3;
    *r0 = 0;
    *r1 = tile_h;
  }
}

SQZ_HD sqz_expand_deal sqz_expand_deal_make(int e1, int e3, int tile_h) {
  sqz_expand_deal d;
  const int t1 = e1 / 16, t3 = e3 / 16, most = tile_h / 2 > 1 ? tile_h / 2 : 1;
  int g = SQZ_FIRE_WARPS, b = t3, w, i;
  while (b) { /* g = gcd(t3, warps) */
    const int r = g % b;
    g = b;
    b = r;
  }
  d.parts = SQZ_FIRE_WARPS / g < most ? SQZ_FIRE_WARPS / g : most;
  if (t3 * d.parts + t1 > SQZ_EXPAND_MAX_ITEMS) d.parts = 1;
  d.rows = sqz_div_up(tile_h, d.parts);
  d.items = t3 * d.parts + t1;
  d.dealt = d.items <= SQZ_EXPAND_MAX_ITEMS;
  for (w = 0; w < SQZ_FIRE_WARPS; w++) d.mine[w] = 0;
  if (d.dealt) {
    int load[SQZ_FIRE_WARPS] = {0};
    for (i = 0; i < d.items; i++) {
      int nt, r0, r1, best = 0;
      sqz_expand_item(&d, t1, t3, tile_h, i, &nt, &r0, &r1);
      if (r0 >= r1) continue;
      for (w = 1; w < SQZ_FIRE_WARPS; w++)
        if (load[w] < load[best]) best = w;
      load[best] += (nt >= t1 ? 9 : 1) * (r1 - r0);
      d.mine[best] |= 1ull << i;
    }
  }
  return d;
}

/* The row stride, in floats, of the CUDA-core Fire kernel's shared
 * matrices (squeeze output, input chunk): a multiple of 4, so that the
 * GEMMs read 4 consecutive k of a row with one 16-byte load (the 16 lanes
 * of a warp's half read one row: a broadcast), and 4 more than the row,
 * so that 8 lanes storing 16 bytes each down a row and the next rows fill
 * the 32 banks (row r starts 4 r banks on). */
SQZ_HD int sqz_fma_stride(int cols) { return (cols + 3) / 4 * 4 + 4; }

/* Shared memory of the CUDA-core Fire kernel (fp32 values whatever the
 * storage): squeeze output halo x stride(squeeze), input chunk halo x
 * stride(chunk). */
SQZ_HD size_t sqz_fma_fire_smem(int tile_h, int tile_w, int squeeze) {
  size_t halo = (size_t)(tile_h + 2) * (tile_w + 2);
  return halo * (size_t)sqz_fma_stride(squeeze) * 4 +
         halo * (size_t)sqz_fma_stride(SQZ_FIRE_CHUNK) * 4;
}

/* Shared memory of the stem on CUDA cores, in bytes: the input patch (cin
 * channels, rounded up to 4 floats so what follows is 16-byte aligned),
 * the conv outputs of one chunk of output channels for the tile's pool
 * windows, and that chunk's weights; all fp32. A chunk is a multiple of
 * SQZ_STEM_GROUP channels, a thread's micro-tile's. */
enum { SQZ_STEM_GROUP = 8 };
SQZ_HD size_t sqz_stem_smem_bytes(const sqz_stem_geometry *g, int cin, int chunk) {
  int conv_rows = sqz_stem_conv_span(g->tile_h, g->pool_k, g->pool_s);
  int conv_cols = sqz_stem_conv_span(g->tile_w, g->pool_k, g->pool_s);
  int in_rows = (conv_rows - 1) * g->stride + g->kernel;
  int in_cols = (conv_cols - 1) * g->stride + g->kernel;
  return ((size_t)sqz_round4(in_rows * in_cols * cin) + (size_t)conv_rows * conv_cols * chunk +
          (size_t)g->kernel * g->kernel * cin * chunk) *
         4;
}

/* The tensor-core stem (fp16, cout a multiple of 16): the conv as one GEMM
 * of the tile's conv pixels (rows, rounded up to 16) by K = kernel^2 * cin
 * (rounded up to 16, in HWIO order) by cout. Its shared memory, in this
 * order, each part starting 32-byte aligned, at the ldmatrix strides
 * (sqz_mma_stride, no bank conflicts):
 *   A      each conv pixel's input window (im2col), rows x stride(K) halves
 *   B      the weights, K x stride(cout) halves, zero past the real K
 *   C      conv + bias + ReLU, rows x stride(cout) halves, read by the
 *          pool (the stride also puts the 8 rows x 4 pairs of halves that
 *          a warp's accumulator registers write at once on distinct banks) */
typedef struct sqz_stem_wmma_layout {
  int rows, k;       /* GEMM rows and depth, multiples of 16 */
  int lda, ldb, ldc; /* row strides, in halves */
  size_t a, b, c, bytes;
} sqz_stem_wmma_layout;

SQZ_HD sqz_stem_wmma_layout sqz_stem_wmma_layout_of(const sqz_stem_geometry *g, int cin, int cout) {
  sqz_stem_wmma_layout l;
  l.rows = sqz_round16(sqz_stem_conv_span(g->tile_h, g->pool_k, g->pool_s) *
                       sqz_stem_conv_span(g->tile_w, g->pool_k, g->pool_s));
  l.k = sqz_round16(g->kernel * g->kernel * cin);
  l.lda = sqz_mma_stride(l.k);
  l.ldb = sqz_mma_stride(cout);
  l.ldc = l.ldb;
  l.a = 0;
  l.b = l.a + (size_t)l.rows * l.lda * 2;
  l.c = l.b + (size_t)l.k * l.ldb * 2;
  l.bytes = l.c + (size_t)l.rows * l.ldc * 2;
  return l;
}

#ifdef __cplusplus
}
#endif

#endif
