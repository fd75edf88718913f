/* sqz-bench: device, driver, library and host facts for the JSON. NVML is
 * loaded at run time (dlopen), so sqz-bench runs where it is missing. */
#define _DEFAULT_SOURCE /* dlopen, uname */
#include "device_info.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifdef SQZ_BENCH_CUDA
#include <cublas_api.h>
#include <cuda_runtime_api.h>
#endif
#ifdef SQZ_BENCH_CUDNN
#include <cudnn.h>
#endif

#ifdef SQZ_BENCH_CUDA
static void version_string(char *out, size_t size, int v) {
  /* CUDA's encoding: 1000 * major + 10 * minor. */
  if (v > 0)
    snprintf(out, size, "%d.%d", v / 1000, (v % 1000) / 10);
  else
    out[0] = '\0';
}
#endif

static void host_info(bench_device_info *d) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  if (f) {
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "model name", 10) == 0) {
        const char *colon = strchr(line, ':');
        if (colon) {
          colon++;
          while (*colon == ' ' || *colon == '\t') colon++;
          snprintf(d->host_cpu, sizeof d->host_cpu, "%s", colon);
          d->host_cpu[strcspn(d->host_cpu, "\n")] = '\0';
        }
        break;
      }
    }
    fclose(f);
  }
  if (!d->host_cpu[0]) snprintf(d->host_cpu, sizeof d->host_cpu, "unknown CPU");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  d->host_cores = cores > 0 ? (int)cores : 0;
  struct utsname u;
  if (uname(&u) == 0)
    snprintf(d->host_os, sizeof d->host_os, "%s %s %s", u.sysname, u.release, u.machine);
}

static void library_versions(bench_device_info *d) {
  (void)d;
#ifdef SQZ_BENCH_CUDA
  int v = 0;
  if (cudaRuntimeGetVersion(&v) == cudaSuccess) version_string(d->cuda, sizeof d->cuda, v);
  v = 0;
  if (cudaDriverGetVersion(&v) == cudaSuccess)
    version_string(d->driver_api, sizeof d->driver_api, v);
  (void)cudaGetLastError();
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
    snprintf(d->cublas, sizeof d->cublas, "%d.%d.%d", major, minor, patch);
#endif
#ifdef SQZ_BENCH_CUDNN
  int cmajor = 0, cminor = 0, cpatch = 0;
  if (cudnnGetProperty(MAJOR_VERSION, &cmajor) == CUDNN_STATUS_SUCCESS &&
      cudnnGetProperty(MINOR_VERSION, &cminor) == CUDNN_STATUS_SUCCESS &&
      cudnnGetProperty(PATCH_LEVEL, &cpatch) == CUDNN_STATUS_SUCCESS)
    snprintf(d->cudnn, sizeof d->cudnn, "%d.%d.%d", cmajor, cminor, cpatch);
#endif
}

/* NVML, through dlopen: the few entry points used, declared here. */
typedef int nvml_return; /* NVML_SUCCESS is 0 */
typedef struct nvml_device_st *nvml_device;
enum { NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2 };

static void nvml_info(bench_device_info *d) {
  void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return;
  nvml_return (*init)(void) = NULL, (*shutdown)(void) = NULL;
  nvml_return (*driver)(char *, unsigned) = NULL;
  nvml_return (*by_bus)(const char *, nvml_device *) = NULL;
  nvml_return (*clock)(nvml_device, int, unsigned *) = NULL;
  nvml_return (*max_clock)(nvml_device, int, unsigned *) = NULL;
  /* dlsym returns an object pointer; copying its bytes is the POSIX way. */
  void *sym;
#define SQZ_NVML_SYM(var, name) \
  if ((sym = dlsym(lib, name)) != NULL) memcpy(&var, &sym, sizeof var)
  SQZ_NVML_SYM(init, "nvmlInit_v2");
  SQZ_NVML_SYM(shutdown, "nvmlShutdown");
  SQZ_NVML_SYM(driver, "nvmlSystemGetDriverVersion");
  SQZ_NVML_SYM(by_bus, "nvmlDeviceGetHandleByPciBusId_v2");
  SQZ_NVML_SYM(clock, "nvmlDeviceGetClockInfo");
  SQZ_NVML_SYM(max_clock, "nvmlDeviceGetMaxClockInfo");
#undef SQZ_NVML_SYM
  if (init && shutdown && init() == 0) {
    char version[64];
    if (driver && driver(version, sizeof version) == 0)
      snprintf(d->driver, sizeof d->driver, "%s", version);
    nvml_device dev = NULL;
    if (d->pci_bus_id[0] && by_bus && by_bus(d->pci_bus_id, &dev) == 0) {
      unsigned mhz = 0;
      if (clock && clock(dev, NVML_CLOCK_SM, &mhz) == 0) d->sm_clock_current_mhz = mhz;
      if (clock && clock(dev, NVML_CLOCK_MEM, &mhz) == 0) d->memory_clock_current_mhz = mhz;
      if (max_clock && max_clock(dev, NVML_CLOCK_SM, &mhz) == 0) d->sm_clock_max_mhz = mhz;
      if (max_clock && max_clock(dev, NVML_CLOCK_MEM, &mhz) == 0) d->memory_clock_max_mhz = mhz;
    }
    shutdown();
  }
  dlclose(lib);
}

#ifdef SQZ_BENCH_CUDA
static int gpu_info(int device, bench_device_info *d) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || device >= count) {
    (void)cudaGetLastError();
    return 0;
  }
  struct cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  snprintf(d->name, sizeof d->name, "%s", prop.name);
  snprintf(d->compute_capability, sizeof d->compute_capability, "%d.%d", prop.major, prop.minor);
  d->sm_count = prop.multiProcessorCount;
  d->memory_bytes = (uint64_t)prop.totalGlobalMem;
  int v = 0;
  if (cudaDeviceGetAttribute(&v, cudaDevAttrClockRate, device) == cudaSuccess && v > 0)
    d->sm_clock_mhz = v / 1000.0;
  if (cudaDeviceGetAttribute(&v, cudaDevAttrMemoryClockRate, device) == cudaSuccess && v > 0)
    d->memory_clock_mhz = v / 1000.0;
  if (cudaDeviceGetAttribute(&v, cudaDevAttrGlobalMemoryBusWidth, device) == cudaSuccess)
    d->memory_bus_bits = v;
  if (cudaDeviceGetPCIBusId(d->pci_bus_id, (int)sizeof d->pci_bus_id, device) != cudaSuccess)
    d->pci_bus_id[0] = '\0';
  (void)cudaGetLastError();
  return 1;
}
#endif

void bench_device_info_collect(int use_gpu, int device, bench_device_info *d) {
  memset(d, 0, sizeof *d);
  d->sm_clock_mhz = d->memory_clock_mhz = -1;
  d->sm_clock_current_mhz = d->memory_clock_current_mhz = -1;
  d->sm_clock_max_mhz = d->memory_clock_max_mhz = -1;
  host_info(d);
  library_versions(d);
#ifdef SQZ_BENCH_CUDA
  if (use_gpu) d->is_gpu = gpu_info(device, d);
#else
  (void)device;
  (void)use_gpu;
#endif
  if (d->is_gpu)
    nvml_info(d);
  else
    snprintf(d->name, sizeof d->name, "%s", d->host_cpu);
}
