/*  =========================================================================
    ds_strategy_form - the form task type

    @header
    A form's result is a document's, plus "fields": the labels of the
    blanks still to fill, in reading order.
    @end
    =========================================================================
*/

#include "ds_worker_classes.h"


//  --------------------------------------------------------------------------
//  Offline form extractor

static json_t *
s_offline (ds_input_t *input, char **error)
{
    (void) error;
    json_t *result = ds_strategy_document_part (input);
    json_object_set_new (result, "fields",
                         ds_rules_blanks (input->rules, input->text));
    return result;
}

//  --------------------------------------------------------------------------
//  LLM: schema and reply check, with the blank fields

static json_t *
s_llm_schema (void)
{
    return ds_strategy_document_schema (true);
}

static json_t *
s_llm_result (json_t *reply, ds_input_t *input, char **error)
{
    return ds_strategy_document_reply (reply, input, true, error);
}

const ds_strategy_t ds_strategy_form = {
    "form",       true,        true, s_offline, ds_strategy_document_data,
    s_llm_schema, s_llm_result};
