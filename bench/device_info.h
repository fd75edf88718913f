/* sqz-bench: what the numbers were measured on: the GPU (name, clocks,
 * memory), the driver and the CUDA, cuDNN and cuBLAS versions, the host. */
#ifndef SQZ_BENCH_DEVICE_INFO_H
#define SQZ_BENCH_DEVICE_INFO_H

#include <stdint.h>

typedef struct bench_device_info {
  int is_gpu; /* 0: no GPU was used or found; name is then the host CPU */
  char name[256];
  char compute_capability[16];
  int sm_count;
  /* Peak clocks from the CUDA device attributes, MHz; -1 when unknown. */
  double sm_clock_mhz, memory_clock_mhz;
  /* Clocks from NVML when it can be loaded, MHz; -1 when unknown. */
  double sm_clock_current_mhz, memory_clock_current_mhz;
  double sm_clock_max_mhz, memory_clock_max_mhz;
  uint64_t memory_bytes;
  int memory_bus_bits;
  char pci_bus_id[32];
  char driver[80];     /* NVML's driver version ("580.65.06"), or "" */
  char driver_api[16]; /* the CUDA version the driver supports ("13.0"), or "" */
  char cuda[16];       /* CUDA runtime, "" without CUDA */
  char cudnn[24];      /* "" when not built with cuDNN */
  char cublas[24];
  /* host */
  char host_cpu[256];
  int host_cores;
  char host_os[256];
} bench_device_info;

/* Fills *out. With use_gpu set, describes CUDA device `device` (if there is
 * one); library versions are filled whenever they are built in. Never
 * fails: what cannot be found is left empty or -1. */
void bench_device_info_collect(int use_gpu, int device, bench_device_info *out);

#endif
