#include <gtest/gtest.h>

#include <string>

#include "common/test_util.h"
#include "sqz.h"

namespace {

class Labels : public ::testing::Test {
 protected:
  void SetUp() override {
    sqz_metaparams p = sqz_metaparams_default();
    p.num_classes = 3;
    ASSERT_EQ(sqz_model_from_metaparams(&p, 0, &m_), SQZ_OK);
  }
  void TearDown() override { sqz_model_free(m_); }
  sqz_status Load(const std::string &text) {
    std::string path = dir_.File("labels.txt");
    sqz_test::WriteFile(path, std::vector<unsigned char>(text.begin(), text.end()));
    return sqz_model_load_labels(m_, path.c_str());
  }
  sqz_test::TempDir dir_;
  sqz_model *m_ = nullptr;
};

TEST_F(Labels, WnidsAndPlainNamesWithCrlfAndNoFinalNewline) {
  ASSERT_EQ(Load("n01440764 tench, Tinca tinca\r\ncat\nn00000001\tdog"), SQZ_OK)
      << sqz_last_error();
  EXPECT_STREQ(sqz_model_label(m_, 0), "tench, Tinca tinca");
  EXPECT_STREQ(sqz_model_label_id(m_, 0), "n01440764");
  EXPECT_STREQ(sqz_model_label(m_, 1), "cat");
  EXPECT_STREQ(sqz_model_label_id(m_, 1), "");
  EXPECT_STREQ(sqz_model_label(m_, 2), "dog");
  EXPECT_EQ(sqz_model_find_label_id(m_, "n00000001"), 2);
  EXPECT_EQ(sqz_model_find_label_id(m_, "n99999999"), -1);
  EXPECT_EQ(sqz_model_find_label_id(m_, ""), -1);
  EXPECT_EQ(sqz_model_label(m_, 3), nullptr);
  EXPECT_EQ(sqz_model_label(m_, -1), nullptr);
}

TEST_F(Labels, WrongCountKeepsThePreviousLabels) {
  ASSERT_EQ(Load("a\nb\nc\n"), SQZ_OK);
  EXPECT_EQ(Load("a\nb\n"), SQZ_ERR_FORMAT);
  EXPECT_NE(std::string(sqz_last_error()).find("2 label lines"), std::string::npos);
  EXPECT_EQ(Load("a\nb\nc\nd\n"), SQZ_ERR_FORMAT);
  EXPECT_NE(std::string(sqz_last_error()).find("more than 3"), std::string::npos);
  EXPECT_STREQ(sqz_model_label(m_, 2), "c");
  EXPECT_EQ(sqz_model_load_labels(m_, dir_.File("missing.txt").c_str()), SQZ_ERR_IO);
}

TEST(LabelsNone, BuiltinsHaveNoLabels) {
  sqz_model *m = nullptr;
  ASSERT_EQ(sqz_model_builtin("squeezenet1_1", 0, &m), SQZ_OK);
  EXPECT_EQ(sqz_model_label(m, 0), nullptr);
  EXPECT_EQ(sqz_model_label_id(m, 0), nullptr);
  sqz_model_free(m);
}

}  // namespace
