/*  =========================================================================
    ds_submission - a task submission, validated

    @header
    Parses with jansson, decodes base64 with OpenSSL (ds_util), probes
    images with leptonica (ds_image): nothing here parses by hand. Every
    rejection has a stable code, listed in docs/API.md.
    @end
    =========================================================================
*/

#include "ds_gateway_classes.h"

#define SUBMISSION_MESSAGE_MAX 300
#define SUBMISSION_DEFAULT_PRIORITY 5

//  Structure of our class

struct _ds_submission_t {
    char *task_type;                         //  document, form, form_filling
    ds_limits_t limits;                      //  limits in force
    int priority;                            //  0..9
    zchunk_t *images [DS_PROTO_MAX_IMAGES];  //  decoded images, page order
    size_t image_count;                      //  images held
    char *form;                              //  form JSON text, or NULL
    char *file_lib;                          //  file library JSON text, or NULL
    char *idempotency_key;                   //  client's key, or NULL
    int status;        //  HTTP status of the rejection, 0 if none
    const char *code;  //  stable error code
    char message [SUBMISSION_MESSAGE_MAX];  //  human message
};

//  "echo" skips OCR and extraction: for benchmarks, enabled by a flag
static const char *s_task_types [] = {"document", "form", "form_filling",
                                      "echo", NULL};


//  --------------------------------------------------------------------------
//  Create a submission

ds_submission_t *
ds_submission_new (const char *task_type, const ds_limits_t *limits)
{
    assert (ds_submission_known_type (task_type));
    ds_submission_t *self =
        (ds_submission_t *) zmalloc (sizeof (ds_submission_t));
    assert (self);
    self->task_type = strdup (task_type);
    self->limits = *limits;
    if (self->limits.max_images > DS_PROTO_MAX_IMAGES)
        self->limits.max_images = DS_PROTO_MAX_IMAGES;
    self->priority = SUBMISSION_DEFAULT_PRIORITY;
    self->code = "";
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy the submission

void
ds_submission_destroy (ds_submission_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ds_submission_t *self = *self_p;
        for (size_t image_nbr = 0; image_nbr < self->image_count; image_nbr++)
            zchunk_destroy (&self->images [image_nbr]);
        zstr_free (&self->form);
        zstr_free (&self->file_lib);
        zstr_free (&self->idempotency_key);
        zstr_free (&self->task_type);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Known task types

bool
ds_submission_known_type (const char *task_type)
{
    for (const char **known = s_task_types; *known; known++)
        if (streq (*known, task_type))
            return true;
    return false;
}


//  --------------------------------------------------------------------------
//  Reject

int
ds_submission_reject (ds_submission_t *self,
                      int status,
                      const char *code,
                      const char *format,
                      ...)
{
    if (self->status == 0) {
        self->status = status;
        self->code = code;
        va_list args;
        va_start (args, format);
        vsnprintf (self->message, sizeof (self->message), format, args);
        va_end (args);
    }
    return -1;
}


//  --------------------------------------------------------------------------
//  Add one image from bytes, checking size and format

int
ds_submission_add_image (ds_submission_t *self, const void *data, size_t size)
{
    size_t index = self->image_count;
    if (index >= self->limits.max_images)
        return ds_submission_reject (self, 400, "TOO_MANY_IMAGES",
                                     "a task takes at most %zu images",
                                     self->limits.max_images);
    if (size > self->limits.max_image_bytes)
        return ds_submission_reject (
            self, 413, "IMAGE_TOO_LARGE",
            "image %zu is %zu bytes, over the limit of %zu", index + 1, size,
            self->limits.max_image_bytes);
    const char *format;
    int width, height;
    if (ds_image_probe (data, size, &format, &width, &height))
        return ds_submission_reject (
            self, 400, "UNSUPPORTED_IMAGE",
            "image %zu is not a supported image (PNG, JPEG, TIFF, BMP, GIF, "
            "WebP, PNM)",
            index + 1);
    if ((int64_t) width * height > self->limits.max_pixels)
        return ds_submission_reject (
            self, 413, "IMAGE_TOO_LARGE",
            "image %zu has %dx%d pixels, over the limit of %" PRId64, index + 1,
            width, height, self->limits.max_pixels);
    self->images [self->image_count++] = zchunk_new (data, size);
    return 0;
}


//  --------------------------------------------------------------------------
//  Set the priority from a JSON value

static int
s_set_priority (ds_submission_t *self, json_t *value)
{
    if (!json_is_integer (value) || json_integer_value (value) < 0
        || json_integer_value (value) > DS_PROTO_MAX_PRIORITY)
        return ds_submission_reject (
            self, 400, "BAD_PRIORITY",
            "\"priority\" must be a whole number from 0 to 9 (9 is the most "
            "urgent)");
    self->priority = (int) json_integer_value (value);
    return 0;
}


//  --------------------------------------------------------------------------
//  Keep an object field as compact JSON text

static int
s_set_object (ds_submission_t *self,
              const char *name,
              json_t *value,
              char **target)
{
    if (!json_is_object (value))
        return ds_submission_reject (self, 400, "BAD_FIELD",
                                     "\"%s\" must be a JSON object", name);
    char *text = json_dumps (value, JSON_COMPACT);
    if (!text || strlen (text) > DS_SUBMISSION_MAX_JSON) {
        free (text);
        return ds_submission_reject (self, 413, "FIELD_TOO_LARGE",
                                     "\"%s\" is over %d bytes", name,
                                     DS_SUBMISSION_MAX_JSON);
    }
    zstr_free (target);
    *target = text;
    return 0;
}


//  --------------------------------------------------------------------------
//  Check the file library's shape: documents and forms are arrays

static int
s_check_file_lib (ds_submission_t *self, json_t *file_lib)
{
    const char *keys [] = {"documents", "forms"};
    for (int key_nbr = 0; key_nbr < 2; key_nbr++) {
        json_t *list = json_object_get (file_lib, keys [key_nbr]);
        if (list && !json_is_array (list))
            return ds_submission_reject (self, 400, "BAD_FIELD",
                                         "\"file_lib.%s\" must be an array",
                                         keys [key_nbr]);
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Check a form to fill: {"fields": [label or {"name"}, ...], ...}

static int
s_check_form (ds_submission_t *self, json_t *form)
{
    json_t *fields =
        json_is_object (form) ? json_object_get (form, "fields") : NULL;
    if (!json_is_array (fields) || json_array_size (fields) == 0)
        return ds_submission_reject (
            self, 400, "BAD_FORM",
            "\"form.fields\" must be a non-empty array of field labels");
    if (json_array_size (fields) > DS_SUBMISSION_MAX_FIELDS)
        return ds_submission_reject (self, 400, "BAD_FORM",
                                     "a form has at most %d fields",
                                     DS_SUBMISSION_MAX_FIELDS);
    size_t index;
    json_t *field;
    json_array_foreach (fields, index, field)
    {
        json_t *label = json_is_object (field)
                            ? (json_object_get (field, "name")
                                   ? json_object_get (field, "name")
                                   : json_object_get (field, "label"))
                            : field;
        if (!json_is_string (label) || !*json_string_value (label))
            return ds_submission_reject (
                self, 400, "BAD_FORM",
                "form.fields[%zu] must be a non-empty label", index);
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Parse a JSON body

int
ds_submission_parse_json (ds_submission_t *self, const char *body, size_t size)
{
    json_error_t error;
    json_t *root = json_loadb (body, size, JSON_REJECT_DUPLICATES, &error);
    if (!root)
        return ds_submission_reject (
            self, 400, "BAD_JSON",
            "the body is not valid JSON: %s (line %d, column %d)", error.text,
            error.line, error.column);
    int rc = 0;
    if (!json_is_object (root))
        rc = ds_submission_reject (self, 400, "BAD_JSON",
                                   "the body must be a JSON object");
    json_t *priority = rc ? NULL : json_object_get (root, "priority");
    if (priority && !json_is_null (priority))
        rc = s_set_priority (self, priority);
    json_t *file_lib = rc ? NULL : json_object_get (root, "file_lib");
    if (file_lib && !json_is_null (file_lib))
        rc = s_set_object (self, "file_lib", file_lib, &self->file_lib)
             || s_check_file_lib (self, file_lib);
    json_t *form = rc ? NULL : json_object_get (root, "form");
    if (rc == 0 && streq (self->task_type, "form_filling")) {
        if (!form)
            rc = ds_submission_reject (
                self, 400, "MISSING_FIELD",
                "form filling needs \"form\": {\"fields\": [...]}");
        else
            rc = s_check_form (self, form)
                 || s_set_object (self, "form", form, &self->form);
    }
    json_t *images = rc ? NULL : json_object_get (root, "images");
    if (images && !json_is_array (images))
        rc = ds_submission_reject (
            self, 400, "BAD_FIELD",
            "\"images\" must be an array of base64 strings");
    if (images && rc == 0 && json_array_size (images) > self->limits.max_images)
        rc = ds_submission_reject (self, 400, "TOO_MANY_IMAGES",
                                   "%zu images sent; a task takes at most %zu",
                                   json_array_size (images),
                                   self->limits.max_images);
    size_t index;
    json_t *image;
    if (images && rc == 0)
        json_array_foreach (images, index, image)
        {
            if (!json_is_string (image)) {
                rc = ds_submission_reject (
                    self, 400, "BAD_BASE64",
                    "images[%zu] must be a base64 string", index);
                break;
            }
            zchunk_t *bytes = ds_util_base64_decode (
                json_string_value (image), json_string_length (image),
                self->limits.max_image_bytes + 1);
            if (!bytes) {
                rc = ds_submission_reject (self, 400, "BAD_BASE64",
                                           "images[%zu] is not valid base64",
                                           index);
                break;
            }
            rc = ds_submission_add_image (self, zchunk_data (bytes),
                                          zchunk_size (bytes));
            zchunk_destroy (&bytes);
            if (rc)
                break;
        }
    json_decref (root);
    return rc ? -1 : 0;
}


//  --------------------------------------------------------------------------
//  Set a multipart text field

int
ds_submission_set_field (ds_submission_t *self,
                         const char *name,
                         const char *value,
                         size_t size)
{
    if (!streq (name, "priority") && !streq (name, "file_lib")
        && !streq (name, "form"))
        return 0;
    if (streq (name, "priority")) {
        char text [8];
        if (size == 0 || size >= sizeof (text))
            return ds_submission_reject (
                self, 400, "BAD_PRIORITY",
                "\"priority\" must be a whole number from 0 to 9");
        memcpy (text, value, size);
        text [size] = 0;
        json_t *number = json_loads (text, JSON_DECODE_ANY, NULL);
        int rc = s_set_priority (self, number);
        json_decref (number);
        return rc;
    }
    json_error_t error;
    json_t *object = json_loadb (value, size, JSON_REJECT_DUPLICATES, &error);
    if (!object)
        return ds_submission_reject (self, 400, "BAD_JSON",
                                     "\"%s\" is not valid JSON: %s", name,
                                     error.text);
    int rc;
    if (streq (name, "form"))
        rc = s_check_form (self, object)
             || s_set_object (self, name, object, &self->form);
    else
        rc = s_set_object (self, name, object, &self->file_lib)
             || s_check_file_lib (self, object);
    json_decref (object);
    return rc ? -1 : 0;
}


//  --------------------------------------------------------------------------
//  Set the idempotency key: 1 to 128 printable ASCII characters

int
ds_submission_set_idempotency_key (ds_submission_t *self, const char *key)
{
    size_t length = strlen (key);
    bool valid = length >= 1 && length <= DS_SUBMISSION_MAX_KEY;
    for (const char *scan = key; valid && *scan; scan++)
        valid = *scan > ' ' && *scan < 127;
    if (!valid)
        return ds_submission_reject (
            self, 400, "BAD_IDEMPOTENCY_KEY",
            "an idempotency key is 1 to %d printable ASCII characters",
            DS_SUBMISSION_MAX_KEY);
    zstr_free (&self->idempotency_key);
    self->idempotency_key = strdup (key);
    return 0;
}


const char *
ds_submission_idempotency_key (ds_submission_t *self)
{
    return self->idempotency_key;
}


//  --------------------------------------------------------------------------
//  Final checks

int
ds_submission_check (ds_submission_t *self)
{
    if (self->status)
        return -1;
    if (streq (self->task_type, "echo"))
        return 0;
    if (streq (self->task_type, "form_filling")) {
        if (!self->form)
            return ds_submission_reject (
                self, 400, "MISSING_FIELD",
                "form filling needs \"form\": {\"fields\": [...]}");
    }
    else if (self->image_count == 0)
        return ds_submission_reject (
            self, 400, "NO_IMAGES",
            "send one image or more: \"images\": [\"<base64>\", ...]");
    return 0;
}


//  --------------------------------------------------------------------------
//  Accessors

int
ds_submission_status (ds_submission_t *self)
{
    return self->status;
}

const char *
ds_submission_code (ds_submission_t *self)
{
    return self->code;
}

const char *
ds_submission_message (ds_submission_t *self)
{
    return self->message;
}

const char *
ds_submission_task_type (ds_submission_t *self)
{
    return self->task_type;
}

int
ds_submission_priority (ds_submission_t *self)
{
    return self->priority;
}

zchunk_t **
ds_submission_images (ds_submission_t *self)
{
    return self->images;
}

size_t
ds_submission_image_count (ds_submission_t *self)
{
    return self->image_count;
}

const char *
ds_submission_form (ds_submission_t *self)
{
    return self->form;
}

const char *
ds_submission_file_lib (ds_submission_t *self)
{
    return self->file_lib;
}


//  --------------------------------------------------------------------------
//  Self test

static const char *
s_try_json (const char *task_type, const char *body)
{
    static char code [64];
    ds_limits_t limits = {2, 1000, 10000};
    ds_submission_t *submission = ds_submission_new (task_type, &limits);
    int rc = ds_submission_parse_json (submission, body, strlen (body));
    if (rc == 0)
        rc = ds_submission_check (submission);
    snprintf (code, sizeof (code), "%s",
              rc ? ds_submission_code (submission) : "OK");
    ds_submission_destroy (&submission);
    return code;
}

void
ds_submission_test (bool verbose)
{
    printf (" * ds_submission: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    //  A real, tiny PNG, made with leptonica and base64-encoded
    ds_image_quiet ();
    PIX *pix = pixCreate (20, 10, 8);
    l_uint8 *bytes = NULL;
    size_t size = 0;
    assert (pixWriteMem (&bytes, &size, pix, IFF_PNG) == 0);
    pixDestroy (&pix);
    char *png = ds_util_base64_encode (bytes, size);
    lept_free (bytes);
    char *body = zsys_sprintf ("{\"images\": [\"%s\"], \"priority\": 9, "
                               "\"file_lib\": {\"documents\": []}}",
                               png);
    ds_limits_t limits = {2, 1000, 10000};
    ds_submission_t *submission = ds_submission_new ("document", &limits);
    assert (ds_submission_parse_json (submission, body, strlen (body)) == 0);
    assert (ds_submission_check (submission) == 0);
    assert (ds_submission_priority (submission) == 9);
    assert (ds_submission_image_count (submission) == 1);
    assert (streq (ds_submission_file_lib (submission), "{\"documents\":[]}"));
    ds_submission_destroy (&submission);
    zstr_free (&body);

    //  Each rejection has its code
    assert (streq (s_try_json ("document", "{\"images\": [}"), "BAD_JSON"));
    assert (streq (s_try_json ("document", "[1, 2]"), "BAD_JSON"));
    assert (
        streq (s_try_json ("document", "{\"a\": 1, \"a\": 2}"), "BAD_JSON"));
    assert (streq (s_try_json ("document", "{}"), "NO_IMAGES"));
    assert (streq (s_try_json ("document", "{\"images\": []}"), "NO_IMAGES"));
    assert (
        streq (s_try_json ("document", "{\"images\": \"x\"}"), "BAD_FIELD"));
    assert (streq (s_try_json ("document", "{\"images\": [\"***\"]}"),
                   "BAD_BASE64"));
    assert (streq (s_try_json ("document", "{\"images\": [7]}"), "BAD_BASE64"));
    assert (streq (s_try_json ("document", "{\"images\": [\"aGVsbG8gd29y"
                                           "bGQ=\"]}"),
                   "UNSUPPORTED_IMAGE"));
    assert (streq (s_try_json ("document", "{\"images\": [\"a\", \"b\", "
                                           "\"c\"]}"),
                   "TOO_MANY_IMAGES"));
    body = zsys_sprintf ("{\"images\": [\"%s\"], \"priority\": 10}", png);
    assert (streq (s_try_json ("form", body), "BAD_PRIORITY"));
    zstr_free (&body);
    body = zsys_sprintf ("{\"images\": [\"%s\"], \"file_lib\": 3}", png);
    assert (streq (s_try_json ("form", body), "BAD_FIELD"));
    zstr_free (&body);
    assert (streq (s_try_json ("form_filling", "{}"), "MISSING_FIELD"));
    assert (streq (s_try_json ("form_filling", "{\"form\": {\"fields\": "
                                               "[]}}"),
                   "BAD_FORM"));
    assert (streq (s_try_json ("form_filling", "{\"form\": {\"fields\": "
                                               "[\"\"]}}"),
                   "BAD_FORM"));
    assert (streq (s_try_json ("form_filling",
                               "{\"form\": {\"fields\": "
                               "[\"Name\", {\"name\": \"Email\"}]}, "
                               "\"file_lib\": {\"documents\": 1}}"),
                   "BAD_FIELD"));
    assert (streq (s_try_json ("form_filling",
                               "{\"form\": {\"fields\": "
                               "[\"Name\", {\"name\": \"Email\"}]}}"),
                   "OK"));

    //  Oversized and over-pixel images (limits 1000 bytes, 10000 pixels)
    submission = ds_submission_new ("document", &limits);
    char big [1001] = {0};
    assert (ds_submission_add_image (submission, big, sizeof (big)) == -1);
    assert (ds_submission_status (submission) == 413);
    ds_submission_destroy (&submission);
    pix = pixCreate (200, 100, 1);
    assert (pixWriteMem (&bytes, &size, pix, IFF_PNG) == 0);
    pixDestroy (&pix);
    submission = ds_submission_new ("document", &limits);
    assert (ds_submission_add_image (submission, bytes, size) == -1);
    assert (streq (ds_submission_code (submission), "IMAGE_TOO_LARGE"));
    lept_free (bytes);
    ds_submission_destroy (&submission);  //  Idempotency keys
    submission = ds_submission_new ("document", &limits);
    assert (ds_submission_set_idempotency_key (submission, "app-1/42") == 0);
    assert (streq (ds_submission_idempotency_key (submission), "app-1/42"));
    assert (ds_submission_set_idempotency_key (submission, "has space") == -1);
    assert (streq (ds_submission_code (submission), "BAD_IDEMPOTENCY_KEY"));
    ds_submission_destroy (&submission);

    //  Multipart fields
    submission = ds_submission_new ("document", &limits);
    assert (ds_submission_set_field (submission, "priority", "3", 1) == 0);
    assert (ds_submission_priority (submission) == 3);
    assert (ds_submission_set_field (submission, "other", "x", 1) == 0);
    assert (ds_submission_set_field (submission, "file_lib", "{}", 2) == 0);
    assert (ds_submission_check (submission) == -1);
    assert (streq (ds_submission_code (submission), "NO_IMAGES"));
    ds_submission_destroy (&submission);
    submission = ds_submission_new ("document", &limits);
    assert (ds_submission_set_field (submission, "priority", "x", 1) == -1);
    ds_submission_destroy (&submission);
    zstr_free (&png);
    //  @end
    printf ("OK\n");
}
