/*  =========================================================================
    ds_strategy_document - the document task type

    @header
    Offline: title from the first line with words, tags from the document
    kinds named, kv from "Label: value" lines, related items from the
    entities found (dates, amounts, e-mails, phones, URLs, identifiers),
    and a description composed from what was found.
    @end
    =========================================================================
*/

#include "ds_worker_classes.h"


//  --------------------------------------------------------------------------
//  The document part of document and form results

json_t *
ds_strategy_document_part (ds_input_t *input)
{
    char *title = ds_rules_title (input->rules, input->text);
    json_t *tags = ds_rules_tags (input->rules, input->text);
    json_t *kv = ds_rules_pairs (input->rules, input->text);
    json_t *related = ds_rules_entities (input->rules, input->text);
    size_t pages = json_array_size (input->pages);

    //  Description: what kind of document, and what it holds
    const char *kind = json_array_size (tags)
                           ? json_string_value (json_array_get (tags, 0))
                           : "document";
    size_t fields = json_object_size (kv);
    size_t items = json_array_size (related);
    char *description = zsys_sprintf (
        "%s, %zu page%s%s%s%s: %zu labelled field%s, %zu related item%s.", kind,
        pages, pages == 1 ? "" : "s", *title ? ", titled \"" : "", title,
        *title ? "\"" : "", fields, fields == 1 ? "" : "s", items,
        items == 1 ? "" : "s");
    description [0] = (char) toupper ((unsigned char) description [0]);

    json_t *result = json_object ();
    json_t *title_json = json_string (title);
    json_object_set_new (result, "title",
                         title_json ? title_json : json_string (""));
    json_object_set_new (result, "tags", tags);
    json_t *description_json = json_string (description);
    json_object_set_new (result, "description",
                         description_json ? description_json
                                          : json_string (""));
    json_object_set_new (result, "kv", kv);
    json_object_set_new (result, "related", related);
    json_object_set (result, "pages", input->pages);
    json_object_set_new (result, "extractor", json_string ("offline"));
    zstr_free (&description);
    zstr_free (&title);
    return result;
}


//  --------------------------------------------------------------------------
//  Offline document extractor

static json_t *
s_offline (ds_input_t *input, char **error)
{
    (void) error;
    return ds_strategy_document_part (input);
}

//  --------------------------------------------------------------------------
//  LLM: schema and reply check

static json_t *
s_llm_schema (void)
{
    return ds_strategy_document_schema (false);
}

static json_t *
s_llm_result (json_t *reply, ds_input_t *input, char **error)
{
    return ds_strategy_document_reply (reply, input, false, error);
}

const ds_strategy_t ds_strategy_document = {
    "document",   true,        true, s_offline, ds_strategy_document_data,
    s_llm_schema, s_llm_result};
