/*  =========================================================================
    ds_submission - a task submission, validated

    Every way into docusnap (HTTP JSON, HTTP multipart, and the ZMQ front
    door to come) builds a ds_submission and asks it whether the task is
    acceptable. On rejection it carries an HTTP status, a stable error code
    and a human message. Limits are checked before anything large is
    allocated.
    =========================================================================
*/

#ifndef DS_SUBMISSION_H_INCLUDED
#define DS_SUBMISSION_H_INCLUDED

typedef struct _ds_submission_t ds_submission_t;

//  Limits a submission is held to
typedef struct {
    size_t max_images;       //  images in one task
    size_t max_image_bytes;  //  decoded bytes of one image
    int64_t max_pixels;      //  width x height of one image
} ds_limits_t;

#define DS_SUBMISSION_MAX_FIELDS 500              //  form fields to fill
#define DS_SUBMISSION_MAX_JSON (8 * 1024 * 1024)  //  form or file_lib text
#define DS_SUBMISSION_MAX_KEY 128                 //  idempotency key

#ifdef __cplusplus
extern "C" {
#endif

//  Create a submission of task_type ("document", "form", "form_filling").
//  limits is copied.
ds_submission_t *ds_submission_new (const char *task_type,
                                    const ds_limits_t *limits);

//  Destroy the submission
void ds_submission_destroy (ds_submission_t **self_p);

//  True if task_type is one the gateway accepts
bool ds_submission_known_type (const char *task_type);

//  Read a JSON request body: {"images": [...], "priority", "file_lib",
//  "form"}. Returns 0, or -1 with the rejection set.
int
ds_submission_parse_json (ds_submission_t *self, const char *body, size_t size);

//  Add one image from raw bytes (multipart); copies them. Returns 0 or -1.
int
ds_submission_add_image (ds_submission_t *self, const void *data, size_t size);

//  Set a field from text (multipart): "priority", "file_lib" or "form".
//  Unknown names are ignored. Returns 0 or -1.
int ds_submission_set_field (ds_submission_t *self,
                             const char *name,
                             const char *value,
                             size_t size);

//  Set the client's idempotency key (HTTP Idempotency-Key, SUBMIT field 8):
//  the same key again returns the first task. Returns 0 or -1.
int ds_submission_set_idempotency_key (ds_submission_t *self, const char *key);

//  The idempotency key, or NULL
const char *ds_submission_idempotency_key (ds_submission_t *self);

//  Final checks once every part is in (images present, form present).
//  Returns 0 if the submission can be stored, else -1.
int ds_submission_check (ds_submission_t *self);

//  Reject the submission with a status, code and message (printf format).
//  Returns -1. The first rejection stays.
int ds_submission_reject (ds_submission_t *self,
                          int status,
                          const char *code,
                          const char *format,
                          ...);

//  The rejection: HTTP status (0 if none), code and message
int ds_submission_status (ds_submission_t *self);
const char *ds_submission_code (ds_submission_t *self);
const char *ds_submission_message (ds_submission_t *self);

//  The validated content (borrowed)
const char *ds_submission_task_type (ds_submission_t *self);
int ds_submission_priority (ds_submission_t *self);
zchunk_t **ds_submission_images (ds_submission_t *self);
size_t ds_submission_image_count (ds_submission_t *self);
const char *ds_submission_form (ds_submission_t *self);
const char *ds_submission_file_lib (ds_submission_t *self);

//  Self test of this class
void ds_submission_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
