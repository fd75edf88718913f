#include "common/test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace sqz_test {

std::string DataDir() {
  const char *env = std::getenv("SQZ_DATA_DIR");
  std::string dir = env && *env ? env : SQZ_DEFAULT_DATA_DIR;
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return "";
  return dir;
}

bool QuickRun() {
  const char *env = std::getenv("SQZ_TEST_QUICK");
  return env && *env && std::string(env) != "0";
}

TempDir::TempDir() {
  const char *base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sqz_test_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  for (const std::string &name : List()) std::remove(File(name).c_str());
  rmdir(path_.c_str());
}

std::vector<std::string> TempDir::List() const {
  std::vector<std::string> names;
  if (DIR *d = opendir(path_.c_str())) {
    while (struct dirent *e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
        names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<unsigned char> ReadFile(const std::string &path) {
  std::vector<unsigned char> data;
  FILE *fp = std::fopen(path.c_str(), "rb");
  if (!fp) throw std::runtime_error("cannot open " + path);
  unsigned char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) data.insert(data.end(), buf, buf + n);
  std::fclose(fp);
  return data;
}

void WriteFile(const std::string &path, const std::vector<unsigned char> &data) {
  FILE *fp = std::fopen(path.c_str(), "wb");
  if (!fp) throw std::runtime_error("cannot create " + path);
  if (!data.empty()) std::fwrite(data.data(), 1, data.size(), fp);
  std::fclose(fp);
}

std::vector<float> RandomVector(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v) x = dist(gen);
  return v;
}

sqz_model *TinyModel(int input_size, sqz_bypass bypass, uint32_t seed) {
  sqz_model *m = nullptr;
  if (sqz_model_begin("tiny", 3, input_size, input_size, &m) != SQZ_OK) return nullptr;
  bool ok = sqz_model_add_conv(m, "conv1", 8, 3, 2, 1, 1) == SQZ_OK &&
            sqz_model_add_maxpool(m, "pool1", 3, 2, 0) == SQZ_OK &&
            sqz_model_add_fire(m, "fire2", 3, 4, 4,
                               bypass == SQZ_BYPASS_NONE ? SQZ_BYPASS_NONE : SQZ_BYPASS_SIMPLE) ==
                SQZ_OK &&
            sqz_model_add_fire(
                m, "fire3", 2, 5, 7,
                bypass == SQZ_BYPASS_COMPLEX ? SQZ_BYPASS_COMPLEX : SQZ_BYPASS_NONE) == SQZ_OK &&
            sqz_model_add_conv(m, "conv10", 5, 1, 1, 1, 1) == SQZ_OK &&
            sqz_model_add_global_avgpool(m, "avgpool") == SQZ_OK && sqz_model_finish(m) == SQZ_OK;
  if (!ok) {
    sqz_model_free(m);
    return nullptr;
  }
  std::vector<float> w = RandomVector(m->num_weights, seed, -0.5f, 0.5f);
  std::copy(w.begin(), w.end(), m->weights);
  return m;
}

namespace {

// Direct convolution, NCHW.
std::vector<float> Conv(const sqz_conv &c, const float *weights, const std::vector<float> &in,
                        int h, int w, int *oh, int *ow) {
  *oh = (h + 2 * c.pad - c.kernel) / c.stride + 1;
  *ow = (w + 2 * c.pad - c.kernel) / c.stride + 1;
  std::vector<float> out((size_t)c.out_channels * *oh * *ow);
  const float *wt = weights + c.weight, *bias = weights + c.bias;
  for (int o = 0; o < c.out_channels; o++)
    for (int y = 0; y < *oh; y++)
      for (int x = 0; x < *ow; x++) {
        double acc = bias[o];
        for (int i = 0; i < c.in_channels; i++)
          for (int ky = 0; ky < c.kernel; ky++)
            for (int kx = 0; kx < c.kernel; kx++) {
              int iy = y * c.stride + ky - c.pad, ix = x * c.stride + kx - c.pad;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc += (double)wt[((o * c.in_channels + i) * c.kernel + ky) * c.kernel + kx] *
                     in[((size_t)i * h + iy) * w + ix];
            }
        float v = (float)acc;
        out[((size_t)o * *oh + y) * *ow + x] = c.relu && v < 0 ? 0 : v;
      }
  return out;
}

}  // namespace

std::vector<float> NaiveForward(const sqz_model *m, const float *input) {
  int c = m->in_c, h = m->in_h, w = m->in_w;
  std::vector<float> x(input, input + (size_t)c * h * w);
  for (int li = 0; li < m->num_layers; li++) {
    const sqz_layer &l = m->layers[li];
    int oh = h, ow = w;
    if (l.kind == SQZ_LAYER_CONV) {
      x = Conv(l.conv, m->weights, x, h, w, &oh, &ow);
      c = l.conv.out_channels;
    } else if (l.kind == SQZ_LAYER_MAXPOOL) {
      const sqz_pool &p = l.pool;
      oh = (int)std::ceil((h + 2.0 * p.pad - p.kernel) / p.stride) + 1;
      ow = (int)std::ceil((w + 2.0 * p.pad - p.kernel) / p.stride) + 1;
      if ((oh - 1) * p.stride >= h + p.pad) oh--;
      if ((ow - 1) * p.stride >= w + p.pad) ow--;
      std::vector<float> out((size_t)c * oh * ow);
      for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < oh; y++)
          for (int xx = 0; xx < ow; xx++) {
            float best = -INFINITY;
            for (int ky = 0; ky < p.kernel; ky++)
              for (int kx = 0; kx < p.kernel; kx++) {
                int iy = y * p.stride - p.pad + ky, ix = xx * p.stride - p.pad + kx;
                if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                  best = std::max(best, x[((size_t)ch * h + iy) * w + ix]);
              }
            out[((size_t)ch * oh + y) * ow + xx] = best;
          }
      x = out;
    } else if (l.kind == SQZ_LAYER_FIRE) {
      const sqz_fire &f = l.fire;
      std::vector<float> s = Conv(f.squeeze, m->weights, x, h, w, &oh, &ow);
      std::vector<float> e1 = Conv(f.expand1x1, m->weights, s, h, w, &oh, &ow);
      std::vector<float> e3 = Conv(f.expand3x3, m->weights, s, h, w, &oh, &ow);
      std::vector<float> out = e1;
      out.insert(out.end(), e3.begin(), e3.end());  // the concatenation
      if (f.bypass == SQZ_BYPASS_SIMPLE)
        for (size_t i = 0; i < out.size(); i++) out[i] += x[i];
      if (f.bypass == SQZ_BYPASS_COMPLEX) {
        std::vector<float> sc = Conv(f.shortcut, m->weights, x, h, w, &oh, &ow);
        for (size_t i = 0; i < out.size(); i++) out[i] += sc[i];
      }
      x = out;
      c = f.expand1x1.out_channels + f.expand3x3.out_channels;
    } else {
      std::vector<float> out(c);
      for (int ch = 0; ch < c; ch++) {
        double sum = 0;
        for (int i = 0; i < h * w; i++) sum += x[(size_t)ch * h * w + i];
        out[ch] = (float)(sum / (h * w));
      }
      x = out;
      oh = ow = 1;
    }
    h = oh;
    w = ow;
  }
  return x;
}

std::vector<std::string> SortedFiles(const std::string &dir, const std::string &ext) {
  std::vector<std::string> names;
  if (DIR *d = opendir(dir.c_str())) {
    while (struct dirent *e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > ext.size() && n.compare(n.size() - ext.size(), ext.size(), ext) == 0)
        names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

float MaxAbsDiff(const float *a, const float *b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; i++) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

int RunCommand(const std::string &cmd, std::string *output, bool merge_stderr) {
  std::string full = cmd + (merge_stderr ? " 2>&1" : " 2>/dev/null");
  FILE *p = popen(full.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  output->clear();
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace sqz_test
