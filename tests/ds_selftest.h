/*  =========================================================================
    ds_selftest.h - the list of classes with a self test
    =========================================================================
*/

#ifndef DS_SELFTEST_H_INCLUDED
#define DS_SELFTEST_H_INCLUDED

#include "docusnap.h"
#include "ds_sink.h"
#include "ds_ventilator.h"
#include "../workers/ds_worker_classes.h"
#include "../gateway/ds_submission.h"

#define DS_SELFTESTS                                                           \
    {"ds_proto", ds_proto_test}, {"ds_util", ds_util_test},                    \
        {"ds_config", ds_config_test}, {"ds_store", ds_store_test},            \
        {"ds_image", ds_image_test}, {"ds_sink", ds_sink_test},                \
        {"ds_ventilator", ds_ventilator_test}, {"ds_rules", ds_rules_test},    \
        {"ds_strategy", ds_strategy_test}, {"ds_ocr", ds_ocr_test},            \
        {"ds_worker", ds_worker_test}, {"ds_llm", ds_llm_test},                \
        {"ds_prompt", ds_prompt_test}, {"ds_launcher", ds_launcher_test},      \
        {"ds_submission", ds_submission_test}, {"ds_curve", ds_curve_test},

#endif
