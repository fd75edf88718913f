#include <math.h>

#include "error.h"
#include "sqz.h"

sqz_status sqz_top_k(const float *scores, int n, int k, int *indices, float *values) {
  if (!scores) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "scores must not be NULL");
  if (n < 1 || k < 1 || k > n)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "top-k needs 1 <= k <= n, got k=%d n=%d", k, n);
  enum { SMALL = 64 };
  int idx_small[SMALL];
  float val_small[SMALL];
  /* Larger k works in the caller's arrays; both must then be given. */
  int *idx = k <= SMALL ? idx_small : indices;
  float *val = k <= SMALL ? val_small : values;
  if (!idx || !val)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "top-k with k > %d needs both indices and values",
                    SMALL);
  int count = 0;
  for (int i = 0; i < n; i++) {
    float v = isnan(scores[i]) ? -INFINITY : scores[i];
    /* Entries >= v stay ahead, so equal scores keep index order. */
    int pos = count;
    while (pos > 0 && val[pos - 1] < v) pos--;
    if (pos >= k) continue;
    int last = count < k ? count : k - 1;
    for (int j = last; j > pos; j--) {
      idx[j] = idx[j - 1];
      val[j] = val[j - 1];
    }
    idx[pos] = i;
    val[pos] = v;
    if (count < k) count++;
  }
  for (int j = 0; j < k; j++) {
    if (indices) indices[j] = idx[j];
    if (values) values[j] = scores[idx[j]];
  }
  return SQZ_OK;
}
