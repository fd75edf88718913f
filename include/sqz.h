/*
 * sqz: a SqueezeNet inference engine for NVIDIA GPUs, with a CPU reference.
 *
 * This is the only header a user includes. It compiles as C (C99 or later)
 * and as C++.
 *
 * Conventions
 * - Every function that can fail returns an sqz_status. SQZ_OK is zero. On
 *   failure, sqz_last_error() returns a message with the detail (which file,
 *   what was expected, what was found). The message is thread-local: it
 *   belongs to the thread that made the failing call and stays valid until
 *   that thread's next failing call.
 * - Results go through out parameters, which are written only on success.
 * - Objects are opaque handles with a create/free pair. Every free function
 *   accepts NULL.
 * - The library never exits, aborts or prints.
 *
 * Thread safety
 * - A model is configured (labels, input size) by one thread, then it is
 *   immutable and may be shared by any number of threads and engines. The
 *   setters below say where they must not be used concurrently.
 * - An engine is used by one thread at a time. Several engines, also ones
 *   made from the same model, may run concurrently on different threads.
 * - Free functions (sqz_status_string, sqz_top_k, ...) are thread-safe.
 */
#ifndef SQZ_H
#define SQZ_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define SQZ_API
#elif defined(__GNUC__)
#define SQZ_API __attribute__((visibility("default")))
#else
#define SQZ_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define SQZ_VERSION_MAJOR 0
#define SQZ_VERSION_MINOR 1
#define SQZ_VERSION_PATCH 0
#define SQZ_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------ */
/* Status and errors                                                         */
/* ------------------------------------------------------------------------ */

typedef enum sqz_status {
  SQZ_OK = 0,
  SQZ_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, a value out of range    */
  SQZ_ERR_OUT_OF_MEMORY = 2,    /* host or device allocation failed        */
  SQZ_ERR_IO = 3,               /* a file could not be opened/read/written */
  SQZ_ERR_FORMAT = 4,           /* a file's content is corrupt or invalid  */
  SQZ_ERR_UNSUPPORTED = 5,      /* valid, but not built or not implemented */
  SQZ_ERR_NO_DEVICE = 6,        /* no usable GPU or driver                 */
  SQZ_ERR_DEVICE = 7,           /* a CUDA, cuDNN or cuBLAS call failed     */
  SQZ_ERR_INTERNAL = 8,         /* a bug in sqz: please report it          */
  SQZ_ERR_QUEUE_FULL = 9,       /* a batcher's queue is full: retry later  */
  SQZ_ERR_TIMEOUT = 10,         /* a request was not started in its time   */
  SQZ_ERR_CANCELLED = 11        /* a batcher closed before running it      */
} sqz_status;

/* A short constant name for a status ("invalid argument"). Never NULL. */
SQZ_API const char *sqz_status_string(sqz_status status);

/* The detail of this thread's last failure, or "" if there was none.
 * The string is owned by the library; copy it if it must outlive the next
 * failing call on this thread. */
SQZ_API const char *sqz_last_error(void);

/* The library's version, "MAJOR.MINOR.PATCH"; SQZ_VERSION_STRING is the
 * version of the header you compiled against. */
SQZ_API const char *sqz_version(void);

/* ------------------------------------------------------------------------ */
/* Models                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct sqz_model sqz_model;

typedef enum sqz_bypass {
  SQZ_BYPASS_NONE = 0,
  /* Identity shortcut added to the output of every Fire module whose input
   * and output channel counts are equal (fire3, 5, 7, 9 in v1.0). */
  SQZ_BYPASS_SIMPLE = 1,
  /* As simple, plus a 1x1 convolution (with bias, no ReLU) on the shortcut
   * of every other Fire module (fire2, 4, 6, 8 in v1.0). */
  SQZ_BYPASS_COMPLEX = 2
} sqz_bypass;

/* The paper's design-space metaparameters. Fire module i (0-based, eight of
 * them) has e_i = base_e + incr_e * floor(i / freq) output channels, of
 * which e3 = round(e_i * pct_3x3) are 3x3 (clamped to [1, e_i - 1]), and
 * s = round(squeeze_ratio * e_i) squeeze channels (at least 1). The rest of
 * the network is SqueezeNet v1.0's: conv1 96 7x7/2, max pools after conv1,
 * fire4 and fire8, conv10 1x1 + ReLU + global average pool. */
typedef struct sqz_metaparams {
  int base_e;           /* v1.0: 128 */
  int incr_e;           /* v1.0: 128 */
  int freq;             /* v1.0: 2 */
  double pct_3x3;       /* v1.0: 0.5, in (0, 1) */
  double squeeze_ratio; /* v1.0: 0.125, in (0, 1] */
  sqz_bypass bypass;
  int num_classes; /* v1.0: 1000 */
  int input_size;  /* square input, v1.0: 224 */
} sqz_metaparams;

/* v1.0's metaparameters, to modify. */
SQZ_API sqz_metaparams sqz_metaparams_default(void);

/* A built-in architecture with deterministic synthetic weights made from
 * `seed` (the same seed gives the same weights on every machine). Names:
 * "squeezenet1_0", "squeezenet1_1", "squeezenet1_0_simple_bypass",
 * "squeezenet1_0_complex_bypass". Input 3x224x224, 1000 classes, the
 * torchvision preprocessing. The caller owns *out (sqz_model_free). */
SQZ_API sqz_status sqz_model_builtin(const char *name, uint64_t seed, sqz_model **out);

/* The names sqz_model_builtin accepts, NULL-terminated; static storage. */
SQZ_API const char *const *sqz_model_builtin_names(void);

/* A model generated from metaparameters, with synthetic weights from seed. */
SQZ_API sqz_status sqz_model_from_metaparams(const sqz_metaparams *params, uint64_t seed,
                                             sqz_model **out);

/* Loads a model file. The kind is recognised by content, not by name: a
 * .sqzw file (docs/file-format.md) or a Deep Compression SqueezeNet v1.0
 * file. Every field and size is validated before it is used; a corrupt file
 * gives SQZ_ERR_FORMAT with the file name and what was wrong. */
SQZ_API sqz_status sqz_model_load(const char *path, sqz_model **out);

/* Writes the model as .sqzw. The data goes to a temporary file beside `path`
 * which is renamed over `path` only when complete, so a failed save never
 * leaves a broken or half-written file. Thread-safe for a shared model. */
SQZ_API sqz_status sqz_model_save(const sqz_model *model, const char *path);

SQZ_API void sqz_model_free(sqz_model *model);

/* Replaces the model's class labels with the lines of a text file, one class
 * per line in class order; a line "n01440764 tench, Tinca tinca" gives the
 * id "n01440764" and the name "tench, Tinca tinca". The line count must equal
 * the number of classes. Not thread-safe: call before sharing the model. */
SQZ_API sqz_status sqz_model_load_labels(sqz_model *model, const char *path);

/* Sets the input height and width (square or not) that shapes, MACs and new
 * engines use. Fails if any layer's output would be empty. Not thread-safe:
 * call before sharing the model; existing engines are not affected. */
SQZ_API sqz_status sqz_model_set_input_size(sqz_model *model, int height, int width);

/* Replaces the labels with copies of `names` (and `ids`, which may be NULL
 * for no ids), num_classes entries each. Not thread-safe, as above. */
SQZ_API sqz_status sqz_model_set_labels(sqz_model *model, const char *const *ids,
                                        const char *const *names);

/* Queries. Strings returned are owned by the model and live as long as it. */
SQZ_API const char *sqz_model_name(const sqz_model *model);
SQZ_API void sqz_model_input_shape(const sqz_model *model, int *channels, int *height, int *width);
SQZ_API int sqz_model_num_classes(const sqz_model *model);
SQZ_API uint64_t sqz_model_param_count(const sqz_model *model);
/* Multiply-accumulates of one forward pass at the current input size. */
SQZ_API uint64_t sqz_model_macs(const sqz_model *model);
/* Class name and id (wnid) of a class, or NULL when the model has no labels
 * or the index is out of range. */
SQZ_API const char *sqz_model_label(const sqz_model *model, int index);
SQZ_API const char *sqz_model_label_id(const sqz_model *model, int index);
/* The class whose id equals `id`, or -1. */
SQZ_API int sqz_model_find_label_id(const sqz_model *model, const char *id);

typedef enum sqz_layer_kind {
  SQZ_LAYER_CONV = 0,
  SQZ_LAYER_MAXPOOL = 1,
  SQZ_LAYER_FIRE = 2,
  SQZ_LAYER_GLOBAL_AVGPOOL = 3
} sqz_layer_kind;

typedef struct sqz_layer_info {
  const char *name; /* "conv1", "pool1", "fire2", "conv10", "avgpool" */
  sqz_layer_kind kind;
  int in_channels, in_height, in_width;
  int out_channels, out_height, out_width;
  int kernel, stride, pad;           /* conv and max pool (max pool: ceil mode) */
  int relu;                          /* conv: ReLU after it */
  int squeeze, expand1x1, expand3x3; /* fire */
  sqz_bypass bypass;                 /* fire: its own shortcut */
  uint64_t params;
  uint64_t macs;
} sqz_layer_info;

SQZ_API int sqz_model_num_layers(const sqz_model *model);
SQZ_API sqz_status sqz_model_layer(const sqz_model *model, int index, sqz_layer_info *out);

/* A model of any SqueezeNet-family architecture, with zero weights, to be
 * filled with sqz_model_set_tensor. Each entry describes one layer with the
 * fields sqz_model_layer reports (shapes are ignored): conv: name,
 * out_channels, kernel, stride, pad, relu; max pool: name, kernel, stride,
 * pad (ceil mode); fire: name, squeeze, expand1x1, expand3x3, bypass; global
 * average pool: name, and it must come last. The first layer must be a
 * convolution; input channels are 3. Preprocessing: torchvision's. */
SQZ_API sqz_status sqz_model_create(const char *name, int height, int width,
                                    const sqz_layer_info *layers, int num_layers, sqz_model **out);

/* The model's weight tensors, in file order: per convolution
 * "<layer>.weight" (OIHW) and "<layer>.bias"; per Fire module
 * "<fire>.<squeeze|expand1x1|expand3x3|shortcut>.<weight|bias>". */
typedef struct sqz_tensor_info {
  const char *name; /* owned by the model */
  int ndim;
  int dims[4];
  size_t count; /* number of floats */
} sqz_tensor_info;

SQZ_API int sqz_model_num_tensors(const sqz_model *model);
/* Describes tensor `index`; `data` (may be NULL) receives a pointer to its
 * fp32 values, valid as long as the model and not to be written. */
SQZ_API sqz_status sqz_model_tensor(const sqz_model *model, int index, sqz_tensor_info *info,
                                    const float **data);
/* Copies `count` floats into the named tensor; count must equal its size and
 * every value must be finite. Not thread-safe: call before sharing the
 * model; engines already made keep the weights they were made with only on
 * GPU backends, so set weights before making engines. */
SQZ_API sqz_status sqz_model_set_tensor(sqz_model *model, const char *name, const float *data,
                                        size_t count);

typedef enum sqz_channel_order { SQZ_ORDER_RGB = 0, SQZ_ORDER_BGR = 1 } sqz_channel_order;

typedef enum sqz_resize_mode {
  SQZ_RESIZE_SHORTER_SIDE = 0, /* shorter side to resize_size, keep aspect */
  SQZ_RESIZE_STRETCH = 1       /* both sides to resize_size */
} sqz_resize_mode;

/* How an 8-bit RGB image becomes the network input: resize, centre crop to
 * the input size, reorder channels, then value = (pixel - mean[c]) * scale[c]
 * with pixel in 0..255 and c in the model's channel order. */
typedef struct sqz_preprocess {
  sqz_resize_mode resize_mode;
  int resize_size;
  sqz_channel_order channel_order;
  float mean[3];
  float scale[3];
} sqz_preprocess;

SQZ_API void sqz_model_preprocess(const sqz_model *model, sqz_preprocess *out);

/* Replaces the preprocessing (checked: known modes, resize size 1..8192,
 * finite means, finite non-zero scales). Not thread-safe: call before
 * sharing the model. */
SQZ_API sqz_status sqz_model_set_preprocess(sqz_model *model, const sqz_preprocess *preprocess);

/* ------------------------------------------------------------------------ */
/* Engines                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct sqz_engine sqz_engine;

typedef enum sqz_backend {
  SQZ_BACKEND_AUTO = 0, /* the best one built and usable: fused, cudnn, cpu */
  SQZ_BACKEND_CPU = 1,
  SQZ_BACKEND_CUDNN = 2,
  SQZ_BACKEND_UNFUSED = 3,
  SQZ_BACKEND_FUSED = 4
} sqz_backend;

typedef enum sqz_precision {
  SQZ_PRECISION_FP32 = 0,
  SQZ_PRECISION_FP16 = 1 /* fp16 storage, fp32 accumulation (GPU only) */
} sqz_precision;

typedef enum sqz_layout { SQZ_LAYOUT_NCHW = 0, SQZ_LAYOUT_NHWC = 1 } sqz_layout;

typedef enum sqz_input_format {
  SQZ_INPUT_F32_NCHW = 0, /* preprocessed float tensor */
  SQZ_INPUT_F32_NHWC = 1, /* preprocessed float tensor */
  SQZ_INPUT_U8_RGB = 2    /* 8-bit RGB images, HWC interleaved, at the
                             model's input size; preprocessing is applied */
} sqz_input_format;

typedef enum sqz_output_kind {
  SQZ_OUTPUT_LOGITS = 0,
  SQZ_OUTPUT_PROBS = 1 /* softmax of the logits */
} sqz_output_kind;

/* Names for the enums ("cpu", "fp16", ...) and their inverse. The parsers
 * return SQZ_ERR_INVALID_ARGUMENT naming the accepted values. */
SQZ_API const char *sqz_backend_name(sqz_backend backend);
SQZ_API sqz_status sqz_backend_parse(const char *name, sqz_backend *out);
SQZ_API const char *sqz_precision_name(sqz_precision precision);
SQZ_API sqz_status sqz_precision_parse(const char *name, sqz_precision *out);
/* Whether this build of the library contains the backend's code. Whether a
 * GPU is present is only known when an engine is created. */
SQZ_API int sqz_backend_is_built(sqz_backend backend);

typedef struct sqz_engine_options {
  sqz_backend backend;     /* default SQZ_BACKEND_AUTO */
  sqz_precision precision; /* default fp32 */
  int device;              /* CUDA device ordinal, default 0 */
  int max_batch;           /* largest batch a run may have, default 1 */
  /* A cudaStream_t to run on, or NULL for a stream the engine creates and
   * owns. A caller's stream must outlive the engine. */
  void *stream;
  int cuda_graphs; /* capture one CUDA graph per batch size; default 1 */
  int cpu_threads; /* cpu backend: threads, 0 = all cores; default 0 */
  int allow_tf32;  /* fp32 on GPUs: allow TF32 tensor cores; default 0 */
  /* Largest cuDNN workspace in bytes; 0 means the default (256 MiB). */
  size_t workspace_limit;
} sqz_engine_options;

/* The defaults listed above. */
SQZ_API sqz_engine_options sqz_engine_options_default(void);

/* Makes an engine for `model` at the model's current input size. All memory
 * the engine needs for batches up to max_batch is allocated here; running
 * allocates nothing. The model must outlive the engine. A backend that is
 * not built gives SQZ_ERR_UNSUPPORTED naming it; a GPU backend without a
 * GPU gives SQZ_ERR_NO_DEVICE. `options` may be NULL for the defaults. */
SQZ_API sqz_status sqz_engine_create(const sqz_model *model, const sqz_engine_options *options,
                                     sqz_engine **out);
SQZ_API void sqz_engine_free(sqz_engine *engine);

/* The backend the engine runs (AUTO resolved) and a one-line description
 * of it (device, precision, per-layer fallbacks). Owned by the engine. */
SQZ_API sqz_backend sqz_engine_backend(const sqz_engine *engine);
SQZ_API const char *sqz_engine_describe(const sqz_engine *engine);

/* The input shape and class count the engine was made for (the model's at
 * creation; later changes to the model do not affect the engine). */
SQZ_API void sqz_engine_input_shape(const sqz_engine *engine, int *channels, int *height,
                                    int *width);
SQZ_API int sqz_engine_num_classes(const sqz_engine *engine);

/* The cudaStream_t runs are enqueued on (the caller's or the engine's own);
 * NULL on the cpu backend. */
SQZ_API void *sqz_engine_stream(const sqz_engine *engine);

/* Device and host memory the engine holds, planned at creation; nothing
 * more is allocated while it runs. */
typedef struct sqz_memory_report {
  /* The weights in the backend's layouts (shared by the engines of one
   * model; 0 on cpu, which reads the model's own). */
  size_t weight_bytes;
  /* Activations for max_batch, buffers reused by liveness, with the
   * engine's input and output buffers. */
  size_t activation_bytes;
  /* Whole-run scratch: im2col columns, cuBLAS and cuDNN workspaces. */
  size_t workspace_bytes;
  size_t staging_bytes; /* pinned host buffers for host inputs/outputs */
} sqz_memory_report;

SQZ_API sqz_status sqz_engine_memory(const sqz_engine *engine, sqz_memory_report *out);

/* Makes later runs enqueue on `stream` (a cudaStream_t; NULL: the engine's
 * own stream). The caller's stream must outlive its use by the engine.
 * Waits for work already enqueued on the previous stream first. On the cpu
 * backend the stream is recorded and otherwise ignored. */
SQZ_API sqz_status sqz_engine_set_stream(sqz_engine *engine, void *stream);

/* One run: `batch` inputs in `input` (layout per input_format, at the
 * model's input size), batch x num_classes floats to `output`. Input and
 * output may be host or device memory on GPU backends; host memory only on
 * the cpu backend. */
typedef struct sqz_io {
  int batch;
  sqz_input_format input_format;
  const void *input;
  sqz_output_kind output_kind;
  float *output;
} sqz_io;

/* Enqueues a run on the engine's stream and returns; the buffers must stay
 * valid and untouched until sqz_engine_synchronize returns. On the cpu
 * backend the run completes before this returns. */
SQZ_API sqz_status sqz_engine_run_async(sqz_engine *engine, const sqz_io *io);

/* Waits for everything enqueued on the engine and reports a failure that
 * happened while it ran. */
SQZ_API sqz_status sqz_engine_synchronize(sqz_engine *engine);

/* One run of `io`, layer by layer and without CUDA graphs, timing each
 * layer: layer_ms receives sqz_model_num_layers() values in milliseconds
 * (GPU time between events on GPU backends, wall time on cpu), summed over
 * the batch. A layer a backend folds into another (a max pool computed by
 * the next Fire module, say) reports 0. Blocks until done. For benchmarks:
 * the first call at a batch size includes one-time costs. */
SQZ_API sqz_status sqz_engine_profile(sqz_engine *engine, const sqz_io *io, float *layer_ms);

/* Blocking runs on host memory: preprocessed float input in either layout,
 * or 8-bit RGB images (batch x height x width x 3). */
SQZ_API sqz_status sqz_engine_run(sqz_engine *engine, const float *input, int batch,
                                  sqz_layout layout, sqz_output_kind output_kind, float *output);
SQZ_API sqz_status sqz_engine_run_images(sqz_engine *engine, const uint8_t *images, int batch,
                                         sqz_output_kind output_kind, float *output);

/* The k largest of n scores, largest first (ties: lower index first).
 * indices and values (either may be NULL) receive k entries; 1 <= k <= n. */
SQZ_API sqz_status sqz_top_k(const float *scores, int n, int k, int *indices, float *values);

/* ------------------------------------------------------------------------ */
/* Images                                                                    */
/* ------------------------------------------------------------------------ */

/* An 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B. */
typedef struct sqz_image {
  int width;
  int height;
  uint8_t *pixels; /* width * height * 3 bytes, owned by the image */
} sqz_image;

/* Reads binary PPM (P6) and PGM (P5) always, JPEG and PNG when the library
 * was built with them (sqz_image_format_is_built). The format is recognised
 * by content. Gray images are expanded to RGB. */
SQZ_API sqz_status sqz_image_load(const char *path, sqz_image **out);
/* Decodes an image held in memory, as sqz_image_load. */
SQZ_API sqz_status sqz_image_decode(const void *data, size_t size, sqz_image **out);
SQZ_API void sqz_image_free(sqz_image *image);
/* "ppm", "pgm", "jpeg", "png": 1 if this build reads it. */
SQZ_API int sqz_image_format_is_built(const char *format);

/* Bilinear resize (pixel centres aligned, no antialiasing) of an RGB image
 * into a caller buffer of out_width * out_height * 3 bytes. */
SQZ_API sqz_status sqz_image_resize(const sqz_image *image, int out_width, int out_height,
                                    uint8_t *out);

/* The model's preprocessing up to the crop: resize per its resize mode, then
 * centre crop to its input size, into out (input height x width x 3 bytes,
 * RGB), ready for sqz_engine_run_images. An image that already has the
 * input size is taken as it is: it is assumed to be resized and cropped. */
SQZ_API sqz_status sqz_image_prepare(const sqz_model *model, const sqz_image *image, uint8_t *out);

/* ------------------------------------------------------------------------ */
/* Dynamic batching                                                          */
/* ------------------------------------------------------------------------ */

/* A batcher takes single requests from any number of threads, forms them
 * into batches and runs them on engines it owns (instances), one worker
 * thread per instance. Every accepted request completes exactly once: with
 * its output written and SQZ_OK, or with an error status and a message. */
typedef struct sqz_batcher sqz_batcher;

enum { SQZ_MAX_PREFERRED_BATCH_SIZES = 8 };

typedef struct sqz_batcher_options {
  /* Options of every instance's engine. max_batch is replaced by the
   * batcher's; stream must be NULL (on a GPU each instance makes and owns
   * its stream). Default: sqz_engine_options_default(). */
  sqz_engine_options engine;
  int instances;    /* engines, each with its worker thread; default 1 */
  int max_batch;    /* largest batch formed; default 8 */
  int max_delay_us; /* longest a request waits for its batch to fill; 500 */
  /* Batch sizes sent at once, without waiting out the delay, as soon as the
   * queue holds one of them (the largest that fits). Zero-terminated; all
   * zero (the default) for none. */
  int preferred_batch_sizes[SQZ_MAX_PREFERRED_BATCH_SIZES];
  int max_queue;               /* requests waiting at most; default 256 */
  sqz_output_kind output_kind; /* what requests receive; default probs */
} sqz_batcher_options;

/* The defaults listed above. */
SQZ_API sqz_batcher_options sqz_batcher_options_default(void);

/* How a request's input is given. */
typedef enum sqz_request_kind {
  SQZ_REQUEST_F32_NCHW = 0, /* one preprocessed image, C x H x W floats */
  SQZ_REQUEST_F32_NHWC = 1, /* one preprocessed image, H x W x C floats */
  SQZ_REQUEST_U8_RGB = 2,   /* H x W x 3 bytes at the model's input size */
  SQZ_REQUEST_ENCODED = 3   /* a JPEG, PNG or PPM/PGM file's bytes */
} sqz_request_kind;

/* Called once per accepted request, on a worker thread (or, for requests
 * cancelled by sqz_batcher_close, on the closing thread), after its output
 * is written. `message` is "" on success, else the detail of the failure;
 * it is valid during the call only. A callback may submit new requests; it
 * must not close or free the batcher. */
typedef void (*sqz_request_done)(void *user_data, sqz_status status, const char *message);

typedef struct sqz_request {
  sqz_request_kind kind;
  /* The input. F32 and U8 inputs are read when the request's batch starts:
   * they must stay valid and unchanged until the request completes. An
   * encoded image is decoded and prepared (the model's resize and crop)
   * during submit, so its bytes may be released when submit returns. */
  const void *data;
  size_t size;   /* bytes at data; must be exactly an image for F32 and U8 */
  float *output; /* num_classes floats; valid until the request completes */
  /* A request not started within this many microseconds of its submit
   * completes with SQZ_ERR_TIMEOUT; 0 for no limit. */
  int64_t timeout_us;
  sqz_request_done done; /* required for submit; ignored by infer */
  void *user_data;
} sqz_request;

/* Creates the instances' engines from `model` (which must outlive the
 * batcher; the engines share its weights on GPU backends) and starts the
 * workers. `options` may be NULL for the defaults. The caller owns *out. */
SQZ_API sqz_status sqz_batcher_create(const sqz_model *model, const sqz_batcher_options *options,
                                      sqz_batcher **out);

/* Queues a request and returns without waiting. A full queue refuses it at
 * once with SQZ_ERR_QUEUE_FULL, a closed batcher with SQZ_ERR_CANCELLED; a
 * bad request (wrong size, an undecodable image) is refused with its own
 * status. A refused request is not completed: its callback is never
 * called. Thread-safe. */
SQZ_API sqz_status sqz_batcher_submit(sqz_batcher *batcher, const sqz_request *request);

/* Submits and waits for the request to complete; returns its status (its
 * message through sqz_last_error). Thread-safe; not from a callback. */
SQZ_API sqz_status sqz_batcher_infer(sqz_batcher *batcher, const sqz_request *request);

/* Stops accepting requests and waits until every accepted one has
 * completed: queued requests are run when `drain` is non-zero, or completed
 * with SQZ_ERR_CANCELLED at once when it is zero. Later submits give
 * SQZ_ERR_CANCELLED. Safe to call more than once; not from a callback. */
SQZ_API sqz_status sqz_batcher_close(sqz_batcher *batcher, int drain);

/* Closes with drain (every queued request runs), stops the workers and
 * frees the engines. Accepts NULL. Not from a callback. */
SQZ_API void sqz_batcher_free(sqz_batcher *batcher);

/* Counts since creation, and times over the last 4096 requests and
 * batches. A request's queue time runs from its submit to its batch's
 * start; a batch's run time covers its staging, run and output copies. */
typedef struct sqz_batcher_stats {
  uint64_t accepted;  /* submits that returned SQZ_OK */
  uint64_t refused;   /* submits refused: full queue, closed, bad input */
  uint64_t succeeded; /* completed with SQZ_OK */
  uint64_t failed;    /* completed with an engine's error */
  uint64_t timed_out; /* completed with SQZ_ERR_TIMEOUT */
  uint64_t cancelled; /* completed with SQZ_ERR_CANCELLED */
  uint64_t batches;   /* batches run, failed ones included */
  int queued;         /* waiting now */
  int running;        /* in batches running now */
  double queue_us_p50, queue_us_p99;
  double run_us_p50, run_us_p99;
} sqz_batcher_stats;

SQZ_API sqz_status sqz_batcher_get_stats(const sqz_batcher *batcher, sqz_batcher_stats *out);

/* counts[s] receives the number of batches of size s run so far, for s in
 * 0..n-1 (counts[0] is 0); sizes up to max_batch occur. Thread-safe. */
SQZ_API sqz_status sqz_batcher_batch_sizes(const sqz_batcher *batcher, uint64_t *counts, int n);

/* The batcher's options after defaults and checks (max_batch applied to the
 * engine options), and its first instance's engine description. */
SQZ_API sqz_batcher_options sqz_batcher_get_options(const sqz_batcher *batcher);
SQZ_API const char *sqz_batcher_describe(const sqz_batcher *batcher);

#ifdef __cplusplus
}
#endif

#endif /* SQZ_H */
