/*  =========================================================================
    ds_strategy - one extraction strategy per task type

    @header
    The table of strategies, and the self test that runs each of them on
    known text.
    @end
    =========================================================================
*/

#include "ds_worker_classes.h"

static const ds_strategy_t *s_strategies [] = {
    &ds_strategy_document, &ds_strategy_form, &ds_strategy_form_filling,
    &ds_strategy_echo, NULL};


//  --------------------------------------------------------------------------
//  Find the strategy of a task type

const ds_strategy_t *
ds_strategy_find (const char *task_type)
{
    for (const ds_strategy_t **strategy = s_strategies; *strategy; strategy++)
        if (streq ((*strategy)->name, task_type))
            return *strategy;
    return NULL;
}


//  --------------------------------------------------------------------------
//  Add value under key to flat, flattening objects and arrays

static void
s_flatten_into (json_t *flat, const char *key, json_t *value, int depth)
{
    if (depth > 8)
        return;  //  deeper than any document; drop it
    if (json_is_object (value)) {
        const char *name;
        json_t *child;
        json_object_foreach (value, name, child)
        {
            char *path =
                *key ? zsys_sprintf ("%s.%s", key, name) : strdup (name);
            s_flatten_into (flat, path, child, depth + 1);
            zstr_free (&path);
        }
    }
    else if (json_is_array (value)) {
        size_t index;
        json_t *child;
        json_array_foreach (value, index, child)
        {
            char *path =
                zsys_sprintf ("%s%s%zu", key, *key ? "." : "", index + 1);
            s_flatten_into (flat, path, child, depth + 1);
            zstr_free (&path);
        }
    }
    else if (json_is_string (value))
        json_object_set (flat, key, value);
    else if (json_is_null (value))
        json_object_set_new (flat, key, json_string (""));
    else if (json_is_boolean (value))
        json_object_set_new (
            flat, key, json_string (json_is_true (value) ? "true" : "false"));
    else {
        char *text = json_dumps (value, JSON_ENCODE_ANY);
        json_object_set_new (flat, key, json_string (text ? text : ""));
        free (text);
    }
}


//  --------------------------------------------------------------------------
//  Flatten kv

json_t *
ds_strategy_flatten (json_t *kv)
{
    json_t *flat = json_object ();
    s_flatten_into (flat, "", kv, 0);
    return flat;
}


//  --------------------------------------------------------------------------
//  LLM data for document and form: the pages' texts

json_t *
ds_strategy_document_data (ds_input_t *input)
{
    json_t *texts = json_array ();
    size_t index;
    json_t *page;
    json_array_foreach (input->pages, index, page)
        json_array_append (texts, json_object_get (page, "text"));
    return json_pack ("{s:o}", "pages", texts);
}


//  --------------------------------------------------------------------------
//  Reply schema for document and form

json_t *
ds_strategy_document_schema (bool with_fields)
{
    json_t *schema = json_loads (
        "{\"type\": \"object\", \"required\": [\"title\", \"tags\","
        " \"description\", \"kv\", \"related\"], \"properties\": {"
        " \"title\": {\"type\": \"string\"},"
        " \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
        " \"description\": {\"type\": \"string\"},"
        " \"kv\": {\"type\": \"object\"},"
        " \"related\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
        " \"required\": [\"type\", \"value\"], \"properties\": {"
        " \"type\": {\"type\": \"string\"},"
        " \"value\": {\"type\": \"string\"}}}}}}",
        0, NULL);
    assert (schema);
    if (with_fields) {
        json_object_set_new (json_object_get (schema, "properties"), "fields",
                             json_pack ("{s:s, s:{s:s}}", "type", "array",
                                        "items", "type", "string"));
        json_array_append_new (json_object_get (schema, "required"),
                               json_string ("fields"));
    }
    return schema;
}


//  --------------------------------------------------------------------------
//  True if value is an array of strings

static bool
s_is_string_array (json_t *value)
{
    if (!json_is_array (value))
        return false;
    size_t index;
    json_t *item;
    json_array_foreach (value, index,
                        item) if (!json_is_string (item)) return false;
    return true;
}


//  --------------------------------------------------------------------------
//  Check a document or form reply and shape the result

json_t *
ds_strategy_document_reply (json_t *reply,
                            ds_input_t *input,
                            bool with_fields,
                            char **error)
{
    const char *problem = NULL;
    json_t *related = json_object_get (reply, "related");
    if (!json_is_string (json_object_get (reply, "title")))
        problem = "\"title\" must be a string";
    else if (!s_is_string_array (json_object_get (reply, "tags")))
        problem = "\"tags\" must be an array of strings";
    else if (!json_is_string (json_object_get (reply, "description")))
        problem = "\"description\" must be a string";
    else if (!json_is_object (json_object_get (reply, "kv")))
        problem = "\"kv\" must be an object";
    else if (!json_is_array (related))
        problem = "\"related\" must be an array";
    else if (with_fields
             && !s_is_string_array (json_object_get (reply, "fields")))
        problem = "\"fields\" must be an array of strings";
    size_t index;
    json_t *item;
    if (!problem)
        json_array_foreach (
            related, index,
            item) if (!json_is_string (json_object_get (item, "type"))
                      || !json_is_string (json_object_get (item, "value")))
        {
            problem = "each of \"related\" must be {\"type\": string, "
                      "\"value\": string}";
            break;
        }
    if (problem) {
        *error = strdup (problem);
        return NULL;
    }
    json_t *result = json_object ();
    json_object_set (result, "title", json_object_get (reply, "title"));
    json_object_set (result, "tags", json_object_get (reply, "tags"));
    json_object_set (result, "description",
                     json_object_get (reply, "description"));
    json_object_set_new (result, "kv",
                         ds_strategy_flatten (json_object_get (reply, "kv")));
    json_t *items = json_array ();
    json_array_foreach (related, index, item) json_array_append_new (
        items, json_pack ("{s:O, s:O}", "type", json_object_get (item, "type"),
                          "value", json_object_get (item, "value")));
    json_object_set_new (result, "related", items);
    json_object_set (result, "pages", input->pages);
    if (with_fields)
        json_object_set (result, "fields", json_object_get (reply, "fields"));
    return result;
}


//  --------------------------------------------------------------------------
//  Self test

void
ds_strategy_test (bool verbose)
{
    printf (" * ds_strategy: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    assert (ds_strategy_find ("document") == &ds_strategy_document);
    assert (ds_strategy_find ("form_filling") == &ds_strategy_form_filling);
    assert (ds_strategy_find ("poem") == NULL);

    ds_rules_t *rules = ds_rules_new ();
    const char *text = "APPLICATION FORM\n\nFull Name: ________\n"
                       "Date of Birth:\nReference: APP-7781\n";
    ds_input_t input = {0};
    input.pages = json_pack ("[{s:s, s:i}]", "text", text, "confidence", 91);
    input.text = text;
    input.rules = rules;

    //  Document: the schema's keys, with what the rules found
    char *error = NULL;
    json_t *result = ds_strategy_document.offline (&input, &error);
    assert (result && !error);
    if (verbose)
        printf ("%s\n", json_dumps (result, JSON_INDENT (2)));
    assert (streq (json_string_value (json_object_get (result, "title")),
                   "APPLICATION FORM"));
    assert (json_is_array (json_object_get (result, "tags")));
    assert (json_is_string (json_object_get (result, "description")));
    assert (streq (json_string_value (json_object_get (
                       json_object_get (result, "kv"), "Reference")),
                   "APP-7781"));
    assert (json_is_array (json_object_get (result, "related")));
    assert (json_array_size (json_object_get (result, "pages")) == 1);
    assert (streq (json_string_value (json_object_get (result, "extractor")),
                   "offline"));
    assert (!json_object_get (result, "fields"));
    json_decref (result);

    //  Form: the same plus blank fields
    result = ds_strategy_form.offline (&input, &error);
    assert (result);
    json_t *fields = json_object_get (result, "fields");
    assert (json_array_size (fields) == 2);
    assert (
        streq (json_string_value (json_array_get (fields, 0)), "Full Name"));
    json_decref (result);
    json_decref (input.pages);

    //  Form filling: values from the file library, each with its source
    ds_input_t filling = {0};
    filling.rules = rules;
    filling.form = json_pack ("{s:[s,s,s,s]}", "fields", "Full name",
                              "Date of birth", "Passport No",
                              "Favourite "
                              "colour");
    filling.file_lib = json_pack (
        "{s:[{s:s, s:{s:s, s:s}}, {s:s, s:s}], s:[{s:s, s:{s:s}}]}",
        "documents", "id", "doc-passport", "kv", "Full Name", "Maria Lopez",
        "Passport Number", "X1234567", "id", "doc-letter", "text",
        "Date of Birth: 1990-04-12\n", "forms", "resource_id", "form-old",
        "fields", "Full Name", "M. Lopez");
    result = ds_strategy_form_filling.offline (&filling, &error);
    assert (result);
    if (verbose)
        printf ("%s\n", json_dumps (result, JSON_INDENT (2)));
    fields = json_object_get (result, "fields");
    json_t *name = json_object_get (fields, "Full name");
    assert (streq (json_string_value (json_object_get (name, "value")),
                   "Maria Lopez"));
    json_t *source = json_object_get (name, "source");
    assert (streq (json_string_value (json_object_get (source, "type")),
                   "document"));
    assert (streq (json_string_value (json_object_get (source, "resource_id")),
                   "doc-passport"));
    json_t *birth = json_object_get (fields, "Date of birth");
    assert (streq (json_string_value (json_object_get (birth, "value")),
                   "1990-04-12"));
    json_t *passport = json_object_get (fields, "Passport No");
    assert (streq (json_string_value (json_object_get (passport, "value")),
                   "X1234567"));
    json_t *colour = json_object_get (fields, "Favourite colour");
    assert (json_is_null (json_object_get (colour, "value")));
    assert (json_is_null (json_object_get (colour, "source")));
    json_decref (result);

    //  A form without fields is an error with a message, not a crash
    json_decref (filling.form);
    filling.form = json_pack ("{s:s}", "fields", "Name");
    result = ds_strategy_form_filling.offline (&filling, &error);
    assert (!result && error);
    zstr_free (&error);
    json_decref (filling.form);
    json_decref (filling.file_lib);

    //  LLM replies: nested kv flattened to strings, schema enforced
    json_t *kv = json_pack ("{s:s, s:{s:s}, s:[{s:s, s:i}], s:b, s:n}", "Total",
                            "12.50", "Customer", "name", "Acme", "Items",
                            "name", "Pen", "qty", 2, "Paid", true, "Note");
    json_t *flat = ds_strategy_flatten (kv);
    assert (streq (json_string_value (json_object_get (flat, "Customer.name")),
                   "Acme"));
    assert (streq (json_string_value (json_object_get (flat, "Items.1.name")),
                   "Pen"));
    assert (
        streq (json_string_value (json_object_get (flat, "Items.1.qty")), "2"));
    assert (streq (json_string_value (json_object_get (flat, "Paid")), "true"));
    assert (streq (json_string_value (json_object_get (flat, "Note")), ""));
    json_decref (flat);
    input.pages = json_pack ("[{s:s, s:i}]", "text", "x", "confidence", 90);
    json_t *reply =
        json_pack ("{s:s, s:[s], s:s, s:O, s:[{s:s, s:s}], "
                   "s:[s]}",
                   "title", "Invoice", "tags", "invoice", "description",
                   "An invoice.", "kv", kv, "related", "type", "date", "value",
                   "2026-11-30", "fields", "Name");
    result = ds_strategy_form.llm_result (reply, &input, &error);
    assert (result && !error);
    assert (json_array_size (json_object_get (result, "pages")) == 1);
    assert (streq (json_string_value (json_object_get (
                       json_object_get (result, "kv"), "Items.1.name")),
                   "Pen"));
    assert (json_array_size (json_object_get (result, "fields")) == 1);
    json_decref (result);
    json_object_set_new (reply, "tags", json_string ("invoice"));
    assert (!ds_strategy_document.llm_result (reply, &input, &error));
    assert (strstr (error, "tags"));
    zstr_free (&error);
    json_decref (reply);
    json_decref (kv);
    json_decref (input.pages);

    //  Form filling replies: sources checked, missing fields made null
    filling.form = json_pack ("{s:[s,s]}", "fields", "Name", "Email");
    reply =
        json_pack ("{s:{s:{s:s, s:{s:s, s:s}}}}", "fields", "Name", "value",
                   "Maria", "source", "type", "document", "resource_id", "d1");
    result = ds_strategy_form_filling.llm_result (reply, &filling, &error);
    assert (result);
    fields = json_object_get (result, "fields");
    assert (json_is_null (
        json_object_get (json_object_get (fields, "Email"), "value")));
    json_decref (result);
    json_object_set_new (
        json_object_get (
            json_object_get (json_object_get (reply, "fields"), "Name"),
            "source"),
        "type", json_string ("rumour"));
    assert (!ds_strategy_form_filling.llm_result (reply, &filling, &error));
    zstr_free (&error);
    json_decref (reply);
    json_decref (filling.form);
    ds_rules_destroy (&rules);
    //  @end
    printf ("OK\n");
}
