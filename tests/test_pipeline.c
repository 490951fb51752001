/*  =========================================================================
    test_pipeline - the four real services over TCP, real tesseract

    Renders pages are submitted over HTTP for all three task types, in
    JSON and multipart, as PNG, JPEG and TIFF; each task must complete
    with the words of its pages and a result of its type's schema, and
    the SQLite file must agree.
    =========================================================================
*/

#include "testutil.h"

#define TASK_TIMEOUT_MS 60000

static json_t *
s_run (th_harness_t *harness, const char *type, const char *body)
{
    char *task_id = th_submit (harness, type, body);
    json_t *status = th_wait_terminal (harness, task_id, TASK_TIMEOUT_MS);
    TH_CHECK (status, "task %s did not finish in time", task_id);
    const char *state = json_string_value (json_object_get (status, "status"));
    char *dump = json_dumps (status, JSON_COMPACT);
    TH_CHECK (streq (state, "completed"), "task %s: %.400s", task_id, dump);
    zstr_free (&dump);
    TH_CHECK (
        streq (json_string_value (json_object_get (status, "type")), type),
        "type");
    TH_CHECK (json_integer_value (json_object_get (status, "attempts")) == 1,
              "attempts");
    TH_CHECK (json_is_string (json_object_get (status, "worker")), "worker");
    th_check_result (type, json_object_get (status, "result"));
    zstr_free (&task_id);
    return status;
}

static const char *
s_page_text (json_t *status, size_t page)
{
    json_t *pages =
        json_object_get (json_object_get (status, "result"), "pages");
    return json_string_value (
        json_object_get (json_array_get (pages, page), "text"));
}

int
main (void)
{
    th_harness_t *harness = th_harness_new ("pipeline", 2, NULL);

    //  A two-page document: pages in order, words read, kv extracted
    const char *pages [] = {"invoice.png", "notes.png", NULL};
    char *body = th_images_body (pages, "{\"priority\": 7}");
    json_t *status = s_run (harness, "document", body);
    zstr_free (&body);
    TH_CHECK (strstr (s_page_text (status, 0), "INV-2041"), "page 1 text");
    TH_CHECK (strstr (s_page_text (status, 0), "Acme Corporation"),
              "page 1 text");
    TH_CHECK (strstr (s_page_text (status, 1), "Maria Lopez"), "page 2 text");
    json_t *result = json_object_get (status, "result");
    json_t *kv = json_object_get (result, "kv");
    TH_CHECK (streq (json_string_value (json_object_get (kv, "Invoice Number")),
                     "INV-2041"),
              "kv Invoice Number");
    TH_CHECK (streq (json_string_value (json_object_get (kv, "Warehouse")),
                     "North Dock 7"),
              "kv from page 2");
    TH_CHECK (streq (json_string_value (json_object_get (result, "title")),
                     "INVOICE"),
              "title");
    TH_CHECK (json_integer_value (json_object_get (status, "priority")) == 7,
              "priority");
    json_decref (status);

    //  JPEG and TIFF decode too
    const char *formats [] = {"invoice.jpg", "invoice.tif", NULL};
    body = th_images_body (formats, NULL);
    status = s_run (harness, "document", body);
    zstr_free (&body);
    TH_CHECK (strstr (s_page_text (status, 0), "INVOICE"), "jpeg text");
    TH_CHECK (strstr (s_page_text (status, 1), "INVOICE"), "tiff text");
    json_decref (status);

    //  A form over multipart/form-data: the blanks come back as fields
    char *url = zsys_sprintf ("%s/api/process_form", th_harness_url (harness));
    char *form_path = th_fixture_path ("form.png");
    const char *paths [] = {form_path, NULL};
    const char *fields [] = {"priority=9", NULL};
    char *response = NULL;
    long code = th_http_multipart (url, paths, fields, &response);
    TH_CHECK (code == 202, "multipart: %ld %s", code, response);
    json_t *accepted = json_loads (response, 0, NULL);
    char *task_id =
        strdup (json_string_value (json_object_get (accepted, "task_id")));
    json_decref (accepted);
    zstr_free (&response);
    status = th_wait_completed (harness, task_id, TASK_TIMEOUT_MS);
    th_check_result ("form", json_object_get (status, "result"));
    json_t *blanks =
        json_object_get (json_object_get (status, "result"), "fields");
    char *dump = json_dumps (blanks, JSON_COMPACT);
    TH_CHECK (strstr (dump, "\"Full Name\"")
                  && strstr (dump, "\"Date of Birth\"")
                  && strstr (dump, "\"Passport Number\""),
              "form fields: %s", dump);
    zstr_free (&dump);
    json_decref (status);
    zstr_free (&task_id);
    zstr_free (&form_path);
    zstr_free (&url);

    //  Form filling from the user's file library, with sources
    status = s_run (
        harness, "form_filling",
        "{\"form\": {\"fields\": [\"Full Name\", \"Date of Birth\", "
        "\"Passport Number\", \"Shoe size\"]}, \"file_lib\": {\"documents\":"
        " [{\"id\": \"passport-scan\", \"kv\": {\"Name\": \"Maria Lopez\", "
        "\"Passport No\": \"X1234567\"}}, {\"id\": \"letter\", \"text\": "
        "\"Full name: Maria Lopez\\nDate of birth: 1990-04-12\"}]}}");
    json_t *filled =
        json_object_get (json_object_get (status, "result"), "fields");
    json_t *birth = json_object_get (filled, "Date of Birth");
    TH_CHECK (streq (json_string_value (json_object_get (birth, "value")),
                     "1990-04-12"),
              "date of birth");
    TH_CHECK (streq (json_string_value (json_object_get (
                         json_object_get (birth, "source"), "resource_id")),
                     "letter"),
              "source");
    json_t *passport = json_object_get (filled, "Passport Number");
    TH_CHECK (streq (json_string_value (json_object_get (passport, "value")),
                     "X1234567"),
              "passport number");
    TH_CHECK (json_is_null (json_object_get (
                  json_object_get (filled, "Shoe size"), "value")),
              "unknown field is null");
    json_decref (status);

    //  The database agrees: every task completed, by a named worker
    ds_store_t *store = ds_store_new (th_harness_db (harness));
    TH_CHECK (store, "open %s", th_harness_db (harness));
    TH_CHECK (ds_store_count (store, NULL) == 4, "4 tasks stored");
    TH_CHECK (ds_store_count (store, "completed") == 4, "4 completed");
    ds_store_destroy (&store);

    TH_CHECK (th_harness_alive (harness), "services alive");
    th_harness_destroy (&harness);
    printf ("test_pipeline: OK\n");
    return 0;
}
