/*  =========================================================================
    ds_strategy_echo - the benchmark's echo task type

    @header
    No OCR and no extraction: an echo task measures the pipeline's own
    cost (HTTP, SQLite, ZeroMQ, dispatch, events). Workers and the gateway
    accept it only with --enable-echo, never by default.
    @end
    =========================================================================
*/

#include "ds_worker_classes.h"


//  --------------------------------------------------------------------------
//  The result: a constant that says what it is

static json_t *
s_offline (ds_input_t *input, char **error)
{
    (void) input;
    (void) error;
    return json_pack ("{s:b}", "echo", true);
}

const ds_strategy_t ds_strategy_echo = {"echo", false, false, s_offline,
                                        NULL,   NULL,  NULL};
