// The .sqzw format: round trips, and every kind of corruption giving a clear
// status (run under AddressSanitizer by scripts/test.sh: no crash, no leak).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "models/crc32.h"
#include "models/sqzw_format.h"
#include "runtime/alloc.h"
#include "runtime/model.h"

namespace {

using Bytes = std::vector<unsigned char>;

struct ModelPtr {
  sqz_model *m = nullptr;
  ~ModelPtr() { sqz_model_free(m); }
};

Bytes Save(const sqz_model *m, const sqz_test::TempDir &dir) {
  std::string path = dir.File("model.sqzw");
  EXPECT_EQ(sqz_model_save(m, path.c_str()), SQZ_OK) << sqz_last_error();
  return sqz_test::ReadFile(path);
}

sqz_status Parse(const Bytes &b, size_t n, sqz_model **out) {
  return sqz_sqzw_parse("test.sqzw", b.data(), n, out);
}

void ExpectSameModel(const sqz_model *a, const sqz_model *b) {
  EXPECT_STREQ(a->name, b->name);
  EXPECT_EQ(a->in_h, b->in_h);
  EXPECT_EQ(a->in_w, b->in_w);
  ASSERT_EQ(a->num_layers, b->num_layers);
  for (int i = 0; i < a->num_layers; i++) {
    sqz_layer_info x, y;
    sqz_model_layer(a, i, &x);
    sqz_model_layer(b, i, &y);
    EXPECT_STREQ(x.name, y.name);
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.out_channels, y.out_channels);
    EXPECT_EQ(x.out_height, y.out_height);
    EXPECT_EQ(x.kernel, y.kernel);
    EXPECT_EQ(x.stride, y.stride);
    EXPECT_EQ(x.pad, y.pad);
    EXPECT_EQ(x.bypass, y.bypass);
  }
  ASSERT_EQ(a->num_weights, b->num_weights);
  EXPECT_EQ(std::memcmp(a->weights, b->weights, a->num_weights * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(&a->preprocess, &b->preprocess, sizeof a->preprocess), 0);
  for (int c = 0; c < a->num_classes; c++) {
    const char *la = sqz_model_label(a, c), *lb = sqz_model_label(b, c);
    ASSERT_EQ(la == nullptr, lb == nullptr);
    if (la) EXPECT_STREQ(la, lb);
    if (la) EXPECT_STREQ(sqz_model_label_id(a, c), sqz_model_label_id(b, c));
  }
}

TEST(Sqzw, RoundTripBuiltinWithLabels) {
  sqz_test::TempDir dir;
  ModelPtr m, back;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 3, &m.m), SQZ_OK);
  std::string labels;
  for (int i = 0; i < 1000; i++)
    labels += (i % 2 ? "n" + std::to_string(10000000 + i) + " class " : "plain ") +
              std::to_string(i) + "\n";
  sqz_test::WriteFile(dir.File("labels.txt"), Bytes(labels.begin(), labels.end()));
  ASSERT_EQ(sqz_model_load_labels(m.m, dir.File("labels.txt").c_str()), SQZ_OK) << sqz_last_error();
  EXPECT_STREQ(sqz_model_label(m.m, 1), "class 1");
  EXPECT_STREQ(sqz_model_label_id(m.m, 1), "n10000001");
  EXPECT_STREQ(sqz_model_label(m.m, 2), "plain 2");
  EXPECT_STREQ(sqz_model_label_id(m.m, 2), "");
  ASSERT_EQ(sqz_model_save(m.m, dir.File("v11.sqzw").c_str()), SQZ_OK);
  ASSERT_EQ(sqz_model_load(dir.File("v11.sqzw").c_str(), &back.m), SQZ_OK) << sqz_last_error();
  ExpectSameModel(m.m, back.m);
  EXPECT_EQ(sqz_model_find_label_id(back.m, "n10000999"), 999);
  // Saved files are ordinary readable files, and no temporary is left.
  struct stat st;
  ASSERT_EQ(stat(dir.File("v11.sqzw").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(dir.List(), (std::vector<std::string>{"labels.txt", "v11.sqzw"}));
}

TEST(Sqzw, RoundTripEveryBypassAndInputSize) {
  for (sqz_bypass bp : {SQZ_BYPASS_NONE, SQZ_BYPASS_SIMPLE, SQZ_BYPASS_COMPLEX}) {
    sqz_test::TempDir dir;
    ModelPtr m, back;
    m.m = sqz_test::TinyModel(33, bp, 5);
    ASSERT_NE(m.m, nullptr);
    Bytes file = Save(m.m, dir);
    ASSERT_EQ(Parse(file, file.size(), &back.m), SQZ_OK) << sqz_last_error();
    ExpectSameModel(m.m, back.m);
  }
}

TEST(Sqzw, EveryTruncationIsRefused) {
  sqz_test::TempDir dir;
  ModelPtr m;
  m.m = sqz_test::TinyModel(17, SQZ_BYPASS_COMPLEX, 1);
  ASSERT_NE(m.m, nullptr);
  Bytes file = Save(m.m, dir);
  ASSERT_GT(file.size(), 1000u);
  for (size_t n = 0; n < file.size(); n++) {
    sqz_model *out = nullptr;
    ASSERT_EQ(Parse(file, n, &out), SQZ_ERR_FORMAT) << "length " << n;
    ASSERT_EQ(out, nullptr);
    ASSERT_NE(std::string(sqz_last_error()).find("test.sqzw"), std::string::npos);
  }
  // On disk too, through the public loader.
  Bytes half(file.begin(), file.begin() + file.size() / 2);
  sqz_test::WriteFile(dir.File("half.sqzw"), half);
  sqz_model *out = nullptr;
  EXPECT_EQ(sqz_model_load(dir.File("half.sqzw").c_str(), &out), SQZ_ERR_FORMAT);
  EXPECT_NE(std::string(sqz_last_error()).find("half.sqzw"), std::string::npos);
}

TEST(Sqzw, EveryFlippedByteIsDetected) {
  sqz_test::TempDir dir;
  ModelPtr m;
  m.m = sqz_test::TinyModel(17, SQZ_BYPASS_SIMPLE, 2);
  ASSERT_NE(m.m, nullptr);
  const Bytes file = Save(m.m, dir);
  for (size_t pos = 0; pos < file.size(); pos++) {
    for (unsigned char mask : {0x01, 0x80, 0xFF}) {
      Bytes bad = file;
      bad[pos] ^= mask;
      sqz_model *out = nullptr;
      ASSERT_EQ(Parse(bad, bad.size(), &out), SQZ_ERR_FORMAT) << "byte " << pos;
      ASSERT_EQ(out, nullptr);
    }
  }
}

// Splits a file into its sections and puts it back together with fresh
// checksums, so tests can plant absurd but checksum-valid content.
struct Section {
  std::string tag;
  Bytes payload;
};

std::vector<Section> Split(const Bytes &file) {
  std::vector<Section> out;
  size_t at = SQZW_HEADER_SIZE;
  while (at < file.size()) {
    Section s;
    s.tag.assign(file.begin() + at, file.begin() + at + 4);
    uint64_t len = 0;
    for (int i = 0; i < 8; i++) len |= (uint64_t)file[at + 8 + i] << (8 * i);
    s.payload.assign(file.begin() + at + 16, file.begin() + at + 16 + len);
    out.push_back(s);
    at += 16 + len + 4;
  }
  return out;
}

void PutU32(Bytes *b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; i++) (*b)[at + i] = (unsigned char)(v >> (8 * i));
}

Bytes Join(const Bytes &original, const std::vector<Section> &sections) {
  Bytes out(original.begin(), original.begin() + SQZW_HEADER_SIZE);
  for (const Section &s : sections) {
    Bytes head(16, 0);
    std::memcpy(head.data(), s.tag.data(), 4);
    for (int i = 0; i < 8; i++)
      head[8 + i] = (unsigned char)((uint64_t)s.payload.size() >> (8 * i));
    uint32_t crc = sqz_crc32(sqz_crc32(0, head.data(), 16), s.payload.data(), s.payload.size());
    out.insert(out.end(), head.begin(), head.end());
    out.insert(out.end(), s.payload.begin(), s.payload.end());
    Bytes c(4);
    PutU32(&c, 0, crc);
    out.insert(out.end(), c.begin(), c.end());
  }
  return out;
}

class SqzwCrafted : public ::testing::Test {
 protected:
  void SetUp() override {
    m_.m = sqz_test::TinyModel(17, SQZ_BYPASS_NONE, 3);
    ASSERT_NE(m_.m, nullptr);
    file_ = Save(m_.m, dir_);
    sections_ = Split(file_);
    ASSERT_EQ(sections_.front().tag, "ARCH");
    ASSERT_EQ(sections_.back().tag, "END ");
    ASSERT_EQ(Join(file_, sections_), file_);  // the helpers are faithful
  }
  // Expects the crafted sections to be refused with `word` in the message.
  void ExpectRefused(const std::vector<Section> &sections, const char *word) {
    Bytes bad = Join(file_, sections);
    sqz_model *out = nullptr;
    EXPECT_EQ(Parse(bad, bad.size(), &out), SQZ_ERR_FORMAT) << word;
    EXPECT_EQ(out, nullptr);
    EXPECT_NE(std::string(sqz_last_error()).find(word), std::string::npos) << sqz_last_error();
  }
  // ARCH payload: name "tiny" (8 bytes), in_c @8, in_h @12, in_w @16,
  // layers @20, then conv1: kind @24, name @25 (4 + 5 bytes), out_c @34,
  // kernel @38, stride @42, pad @46, relu @50.
  std::vector<Section> WithArchU32(size_t at, uint32_t v) {
    auto s = sections_;
    PutU32(&s[0].payload, at, v);
    return s;
  }
  sqz_test::TempDir dir_;
  ModelPtr m_;
  Bytes file_;
  std::vector<Section> sections_;
};

TEST_F(SqzwCrafted, AbsurdArchitectureValues) {
  ExpectRefused(WithArchU32(8, 4), "input channels");
  ExpectRefused(WithArchU32(12, 0), "input height");
  ExpectRefused(WithArchU32(16, 1u << 30), "input width");
  ExpectRefused(WithArchU32(20, 1000), "layer count");
  ExpectRefused(WithArchU32(20, 7), "truncated");  // more layers than there are
  ExpectRefused(WithArchU32(20, 3), "trailing");   // fewer layers than there are
  ExpectRefused(WithArchU32(34, 0x7FFFFFFF), "out channels");
  ExpectRefused(WithArchU32(38, 0), "kernel");
  ExpectRefused(WithArchU32(42, 100), "stride");
  ExpectRefused(WithArchU32(46, 9), "padding");
  ExpectRefused(WithArchU32(25, 0xFFFFFFF0u), "name");  // string length
  auto s = sections_;
  s[0].payload[24] = 9;
  ExpectRefused(s, "unknown kind");
  s = sections_;
  s[0].payload[50] = 2;
  ExpectRefused(s, "relu");
  s = sections_;
  s[0].payload.push_back(0);
  ExpectRefused(s, "trailing");
}

TEST_F(SqzwCrafted, BadSectionsAndTensors) {
  // A tensor section whose declared shape disagrees with the architecture.
  auto s = sections_;
  ASSERT_EQ(s[2].tag, "TENS");  // ARCH, PREP, then conv1.weight
  // conv1.weight: name (4 + 12), dtype, ndim, dims @18..
  PutU32(&s[2].payload, 18, 9);
  ExpectRefused(s, "dimension 0");
  s = sections_;
  s[2].payload[16] = 2;  // dtype
  ExpectRefused(s, "dtype");
  s = sections_;
  s[2].payload.pop_back();
  ExpectRefused(s, "data bytes");
  s = sections_;
  float nan = NAN;
  std::memcpy(&s[2].payload[s[2].payload.size() - 4], &nan, 4);
  ExpectRefused(s, "not finite");
  s = sections_;
  s.erase(s.begin() + 3);
  ExpectRefused(s, "missing");
  s = sections_;
  s.insert(s.begin() + 3, s[2]);
  ExpectRefused(s, "twice");
  s = sections_;
  s[2].payload[5] = 'X';  // "conv1.weight" -> "cXnv1.weight"
  ExpectRefused(s, "not part of the architecture");
  s = sections_;
  s[2].tag = "WHAT";
  ExpectRefused(s, "WHAT");
  s = sections_;
  s.erase(s.begin() + 1);
  ExpectRefused(s, "PREP");
  // Preprocessing: resize mode 5, and a resize smaller than the crop.
  s = sections_;
  s[1].payload[0] = 5;
  ExpectRefused(s, "resize mode");
  s = sections_;
  PutU32(&s[1].payload, 1, 3);
  ExpectRefused(s, "resize size");
  // Bytes after the end section.
  Bytes bad = file_;
  bad.push_back(0);
  sqz_model *out = nullptr;
  EXPECT_EQ(Parse(bad, bad.size(), &out), SQZ_ERR_FORMAT);
  EXPECT_NE(std::string(sqz_last_error()).find("after the end"), std::string::npos);
}

TEST_F(SqzwCrafted, HugeSectionLengthAndWrongVersion) {
  Bytes bad = file_;
  // The ARCH section's length field: claims 2^60 bytes.
  for (int i = 0; i < 8; i++) bad[SQZW_HEADER_SIZE + 8 + i] = i == 7 ? 0x10 : 0;
  sqz_model *out = nullptr;
  EXPECT_EQ(Parse(bad, bad.size(), &out), SQZ_ERR_FORMAT);
  EXPECT_NE(std::string(sqz_last_error()).find("claims"), std::string::npos);
  bad = file_;
  PutU32(&bad, 8, 2);  // version 2, with a valid header checksum
  PutU32(&bad, 12, sqz_crc32(0, bad.data(), 12));
  EXPECT_EQ(Parse(bad, bad.size(), &out), SQZ_ERR_FORMAT);
  EXPECT_NE(std::string(sqz_last_error()).find("version 2"), std::string::npos);
  bad = file_;
  bad[1] = 'X';
  EXPECT_EQ(Parse(bad, bad.size(), &out), SQZ_ERR_FORMAT);
  EXPECT_NE(std::string(sqz_last_error()).find("magic"), std::string::npos);
}

TEST(SqzwSave, FailedSaveLeavesTheOldFileAndNoTemporary) {
  sqz_test::TempDir dir;
  ModelPtr m;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 1, &m.m), SQZ_OK);
  std::string path = dir.File("model.sqzw");
  sqz_test::WriteFile(path, Bytes{'o', 'l', 'd'});
  // Fail each allocation the writer makes in turn.
  int failures = 0;
  for (long n = 1; n < 200; n++) {
    sqz_debug_fail_alloc_after(n);
    sqz_status st = sqz_model_save(m.m, path.c_str());
    sqz_debug_fail_alloc_after(0);
    if (st == SQZ_OK) break;
    failures++;
    ASSERT_EQ(st, SQZ_ERR_OUT_OF_MEMORY);
    ASSERT_EQ(sqz_test::ReadFile(path), (Bytes{'o', 'l', 'd'}));
    ASSERT_EQ(dir.List(), std::vector<std::string>{"model.sqzw"});
  }
  EXPECT_GT(failures, 2);
  ModelPtr back;
  ASSERT_EQ(sqz_model_load(path.c_str(), &back.m), SQZ_OK);
  // A folder that does not exist: an i/o error naming the path.
  EXPECT_EQ(sqz_model_save(m.m, dir.File("no/such/dir.sqzw").c_str()), SQZ_ERR_IO);
  EXPECT_NE(std::string(sqz_last_error()).find("no/such/dir.sqzw"), std::string::npos);
  EXPECT_EQ(sqz_model_save(nullptr, path.c_str()), SQZ_ERR_INVALID_ARGUMENT);
}

TEST(SqzwLoad, MissingAndUnknownFiles) {
  sqz_test::TempDir dir;
  sqz_model *m = nullptr;
  EXPECT_EQ(sqz_model_load(dir.File("absent.sqzw").c_str(), &m), SQZ_ERR_IO);
  EXPECT_NE(std::string(sqz_last_error()).find("absent.sqzw"), std::string::npos);
  sqz_test::WriteFile(dir.File("text.sqzw"), Bytes(200, 'a'));
  EXPECT_EQ(sqz_model_load(dir.File("text.sqzw").c_str(), &m), SQZ_ERR_FORMAT);
  EXPECT_NE(std::string(sqz_last_error()).find("not a model file"), std::string::npos);
  sqz_test::WriteFile(dir.File("empty"), Bytes());
  EXPECT_EQ(sqz_model_load(dir.File("empty").c_str(), &m), SQZ_ERR_FORMAT);
  EXPECT_EQ(sqz_model_load(dir.path().c_str(), &m), SQZ_ERR_IO);  // a folder
  EXPECT_EQ(m, nullptr);
}

}  // namespace
