/*  =========================================================================
    ds_strategy_form_filling - the form filling task type

    @header
    Fills a form's fields from the user's own documents. Every resource of
    the file library ("documents" and "forms", each an object with "id" or
    "resource_id") offers labelled values from its "kv" or "fields" object
    (or its "result.kv", as docusnap returns it), or from "Label: value"
    lines of its "text". Each field takes the value whose label matches
    best: an equal label first, else the most words in common (half at
    least); documents win ties over forms. Unmatched fields get null.
    @end
    =========================================================================
*/

#include "ds_worker_classes.h"

#define FILLING_MIN_SIMILARITY 0.5

typedef struct {
    const char *field;        //  the form's field label
    char *normal;             //  its normalised form
    double score;             //  best similarity so far
    json_t *value;            //  best value (borrowed), or NULL
    const char *type;         //  "document" or "form"
    const char *resource_id;  //  where the value came from
} candidate_t;


//  --------------------------------------------------------------------------
//  Offer one labelled value to every field

static void
s_offer (candidate_t *candidates,
         size_t count,
         const char *label,
         json_t *value,
         const char *type,
         const char *resource_id)
{
    //  A value may be a string, a number, or {"value": ...}
    if (json_is_object (value))
        value = json_object_get (value, "value");
    if (!json_is_string (value) && !json_is_number (value))
        return;
    if (json_is_string (value) && !*json_string_value (value))
        return;
    char *normal = ds_rules_normalize (label);
    for (size_t field_nbr = 0; field_nbr < count; field_nbr++) {
        candidate_t *candidate = &candidates [field_nbr];
        double score = ds_rules_similarity (candidate->normal, normal);
        if (score >= FILLING_MIN_SIMILARITY && score > candidate->score) {
            candidate->score = score;
            candidate->value = value;
            candidate->type = type;
            candidate->resource_id = resource_id;
        }
    }
    zstr_free (&normal);
}


//  --------------------------------------------------------------------------
//  Offer every labelled value of one resource

static void
s_offer_resource (candidate_t *candidates,
                  size_t count,
                  ds_rules_t *rules,
                  json_t *resource,
                  const char *type,
                  size_t index,
                  json_t *keep)
{
    if (!json_is_object (resource))
        return;
    const char *resource_id =
        json_string_value (json_object_get (resource, "id"));
    if (!resource_id)
        resource_id =
            json_string_value (json_object_get (resource, "resource_id"));
    if (!resource_id) {
        //  No id given: name it by its place in the library
        char *name = zsys_sprintf ("%ss[%zu]", type, index);
        json_t *name_json = json_string (name);
        zstr_free (&name);
        json_array_append_new (keep, name_json);
        resource_id = json_string_value (name_json);
    }
    json_t *result = json_object_get (resource, "result");
    json_t *sources [] = {
        json_object_get (resource, "kv"),
        json_object_get (resource, "fields"),
        json_is_object (result) ? json_object_get (result, "kv") : NULL,
    };
    for (size_t source_nbr = 0; source_nbr < 3; source_nbr++) {
        const char *label;
        json_t *value;
        if (json_is_object (sources [source_nbr]))
            json_object_foreach (sources [source_nbr], label, value)
                s_offer (candidates, count, label, value, type, resource_id);
    }
    const char *text = json_string_value (json_object_get (resource, "text"));
    if (text) {
        json_t *pairs = ds_rules_pairs (rules, text);
        const char *label;
        json_t *value;
        json_object_foreach (pairs, label, value)
            s_offer (candidates, count, label, value, type, resource_id);
        //  The values offered are borrowed: keep the pairs until the end
        json_array_append_new (keep, pairs);
    }
}


//  --------------------------------------------------------------------------
//  Label of a form field (a string, or an object with "name" or "label")

static const char *
s_field_label (json_t *field)
{
    if (json_is_object (field))
        field = json_object_get (field, "name")
                    ? json_object_get (field, "name")
                    : json_object_get (field, "label");
    return json_string_value (field);
}


//  --------------------------------------------------------------------------
//  Offline form filling

static json_t *
s_offline (ds_input_t *input, char **error)
{
    json_t *field_list = json_object_get (input->form, "fields");
    if (!json_is_array (field_list) || json_array_size (field_list) == 0) {
        *error = strdup ("the form has no \"fields\" list to fill");
        return NULL;
    }
    size_t count = json_array_size (field_list);
    candidate_t *candidates =
        (candidate_t *) zmalloc (count * sizeof (candidate_t));
    assert (candidates);
    for (size_t field_nbr = 0; field_nbr < count; field_nbr++) {
        candidates [field_nbr].field =
            s_field_label (json_array_get (field_list, field_nbr));
        candidates [field_nbr].normal = ds_rules_normalize (
            candidates [field_nbr].field ? candidates [field_nbr].field : "");
    }
    json_t *keep = json_array ();  //  names and parsed texts, freed last
    const char *types [] = {"document", "form"};
    const char *keys [] = {"documents", "forms"};
    for (int kind_nbr = 0; kind_nbr < 2; kind_nbr++) {
        json_t *resources = json_object_get (input->file_lib, keys [kind_nbr]);
        size_t index;
        json_t *resource;
        if (json_is_array (resources))
            json_array_foreach (resources, index, resource)
                s_offer_resource (candidates, count, input->rules, resource,
                                  types [kind_nbr], index, keep);
    }
    json_t *fields = json_object ();
    for (size_t field_nbr = 0; field_nbr < count; field_nbr++) {
        candidate_t *candidate = &candidates [field_nbr];
        if (!candidate->field || !*candidate->field)
            continue;
        json_t *entry = json_object ();
        if (candidate->value) {
            json_object_set (entry, "value", candidate->value);
            json_object_set_new (entry, "source",
                                 json_pack ("{s:s, s:s}", "type",
                                            candidate->type, "resource_id",
                                            candidate->resource_id));
        }
        else {
            json_object_set_new (entry, "value", json_null ());
            json_object_set_new (entry, "source", json_null ());
        }
        json_object_set_new (fields, candidate->field, entry);
    }
    for (size_t field_nbr = 0; field_nbr < count; field_nbr++)
        zstr_free (&candidates [field_nbr].normal);
    free (candidates);
    json_decref (keep);
    return json_pack ("{s:o, s:s}", "fields", fields, "extractor", "offline");
}

//  --------------------------------------------------------------------------
//  LLM: the form's field labels and the file library

static json_t *
s_llm_data (ds_input_t *input)
{
    json_t *labels = json_array ();
    size_t index;
    json_t *field;
    json_array_foreach (json_object_get (input->form, "fields"), index,
                        field) if (s_field_label (field))
        json_array_append_new (labels, json_string (s_field_label (field)));
    return json_pack ("{s:{s:o}, s:O}", "form", "fields", labels, "file_lib",
                      input->file_lib ? input->file_lib : json_object ());
}


//  --------------------------------------------------------------------------
//  LLM: reply schema

static json_t *
s_llm_schema (void)
{
    json_t *schema = json_loads (
        "{\"type\": \"object\", \"required\": [\"fields\"],"
        " \"properties\": {\"fields\": {\"type\": \"object\","
        " \"additionalProperties\": {\"type\": \"object\","
        " \"required\": [\"value\", \"source\"], \"properties\": {"
        " \"value\": {\"type\": [\"string\", \"number\", \"null\"]},"
        " \"source\": {\"type\": [\"object\", \"null\"], \"properties\": {"
        " \"type\": {\"enum\": [\"document\", \"form\"]},"
        " \"resource_id\": {\"type\": \"string\"}}}}}}}}",
        0, NULL);
    assert (schema);
    return schema;
}


//  --------------------------------------------------------------------------
//  LLM: check the reply; every field of the form gets an entry

static json_t *
s_llm_result (json_t *reply, ds_input_t *input, char **error)
{
    json_t *answers = json_object_get (reply, "fields");
    if (!json_is_object (answers)) {
        *error = strdup ("\"fields\" must be an object keyed by field label");
        return NULL;
    }
    json_t *fields = json_object ();
    size_t index;
    json_t *field;
    json_array_foreach (json_object_get (input->form, "fields"), index, field)
    {
        const char *label = s_field_label (field);
        if (!label || !*label)
            continue;
        json_t *answer = json_object_get (answers, label);
        json_t *value = json_object_get (answer, "value");
        json_t *source = json_object_get (answer, "source");
        const char *kind = json_string_value (json_object_get (source, "type"));
        const char *problem = NULL;
        if (answer && !json_is_object (answer))
            problem = "must be an object {\"value\", \"source\"}";
        else if (value && !json_is_string (value) && !json_is_number (value)
                 && !json_is_null (value))
            problem = "\"value\" must be a string, a number or null";
        else if (source && !json_is_null (source)
                 && (!kind
                     || !(streq (kind, "document") || streq (kind, "form"))
                     || !json_is_string (
                         json_object_get (source, "resource_id"))))
            problem = "\"source\" must be null or {\"type\": \"document\" "
                      "or \"form\", \"resource_id\": string}";
        if (problem) {
            *error = zsys_sprintf ("field \"%s\": %s", label, problem);
            json_decref (fields);
            return NULL;
        }
        bool found = value && !json_is_null (value);
        json_object_set_new (
            fields, label,
            json_pack ("{s:O, s:O}", "value", found ? value : json_null (),
                       "source", found && source ? source : json_null ()));
    }
    return json_pack ("{s:o}", "fields", fields);
}

const ds_strategy_t ds_strategy_form_filling = {
    "form_filling", false,        false,       s_offline,
    s_llm_data,     s_llm_schema, s_llm_result};
