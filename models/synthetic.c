/* Deterministic synthetic weights, so that every built-in model runs out of
 * the box and tests can use the same weights on every machine. */
#include <math.h>

#include "../runtime/model.h"

/* splitmix64: small, fast, and exactly reproducible. */
static uint64_t next_u64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [-1, 1), from the top 24 bits so the float is exact. */
static float next_signed_unit(uint64_t *state) {
  uint32_t bits = (uint32_t)(next_u64(state) >> 40);
  return (float)bits * (1.0f / 8388608.0f) - 1.0f;
}

void sqz_model_init_synthetic(sqz_model *m, uint64_t seed) {
  for (int t = 0; t < m->num_tensors; t++) {
    const sqz_tensor *tensor = &m->tensors[t];
    /* Each tensor gets its own stream, so adding a layer elsewhere does not
     * change the weights of the others. */
    uint64_t state = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(t + 1));
    /* He (Kaiming) uniform bound keeps activations in range through the
     * ReLU stack; biases small and positive-leaning so units stay alive. */
    float bound = tensor->fan_in ? (float)sqrt(6.0 / tensor->fan_in) : 0.1f;
    float shift = tensor->fan_in ? 0.0f : 0.02f;
    float *w = m->weights + tensor->offset;
    for (size_t i = 0; i < tensor->count; i++) w[i] = bound * next_signed_unit(&state) + shift;
  }
}
