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
    &ds_strategy_document, &ds_strategy_form, &ds_strategy_form_filling, NULL};


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
    ds_rules_destroy (&rules);
    //  @end
    printf ("OK\n");
}
