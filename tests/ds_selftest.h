/*  =========================================================================
    ds_selftest.h - the list of classes with a self test
    =========================================================================
*/

#ifndef DS_SELFTEST_H_INCLUDED
#define DS_SELFTEST_H_INCLUDED

#include "docusnap.h"
#include "ds_sink.h"
#include "ds_ventilator.h"

#define DS_SELFTESTS \
    {"ds_proto", ds_proto_test}, \
    {"ds_util", ds_util_test}, \
    {"ds_config", ds_config_test}, \
    {"ds_store", ds_store_test}, \
    {"ds_sink", ds_sink_test}, \
    {"ds_ventilator", ds_ventilator_test},

#endif
