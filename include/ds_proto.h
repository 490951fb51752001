/*  =========================================================================
    ds_proto - the docusnap wire protocol, version 1

    This header is the one description of the wire format; docs/PROTOCOL.md
    explains it for implementers in other languages and tests/vectors/
    holds byte-exact examples (checked from C and from Python in ctest).

    Socket topology (every address is configuration):

        gateway   PUSH --connect-->  PULL ventilator  (bind, "queue")
        ventilator PUSH (bind, "dispatch")  <--connect-- PULL worker
        worker    PUSH --connect-->  PULL sink        (bind, "events")
        sink      PUB  (bind, "publish")  <--connect-- SUB ventilator,
                                                       workers, clients

    Grammar (who sends what on which socket):

        gateway    -> ventilator : QUEUE
        ventilator -> worker     : TASK
        worker     -> sink       : EVENT (STARTED, HEARTBEAT..., then
                                   RESULT or FAILED; resent until a
                                   terminal STATE of the task is seen)
        ventilator -> sink       : EVENT FAILED (WORKER_LOST, TIMEOUT)
        gateway    -> sink       : EVENT CANCELLED
        sink       -> any SUB    : [task_id frame] STATE

    Framing: one ZMQ frame = one msgpack array [version, type, field...].
    Version is 1. New fields are only ever appended; a decoder rejects an
    unknown version, a known type with too few fields or a field of the
    wrong msgpack type, and ignores trailing extra fields.

    QUEUE (type 1): a task was committed and waits for dispatch.
        2 task_id     str   36-char canonical UUID
        3 task_type   str   "document" | "form" | "form_filling"
        4 priority    uint  0..9, 9 most urgent

    TASK (type 2): one attempt at one task, for a worker.
        2 task_id     str
        3 task_type   str
        4 priority    uint  0..9
        5 attempt     uint  1 for the first dispatch
        6 images      array of bin, in page order, at most MAX_IMAGES
        7 form        str   JSON text of the form ("" when none)
        8 file_lib    str   JSON text of the user's file library ("" = none)

    EVENT (type 3): a status change reported by a worker.
        2 task_id     str
        3 event       uint  1 STARTED, 2 HEARTBEAT, 3 RESULT, 4 FAILED,
                            5 CANCELLED
        4 worker      str   worker identity, at most MAX_NAME bytes
        5 attempt     uint  echoed from TASK
        6 time_ms     uint  worker clock, ms since the Unix epoch
        7 result      str   result JSON on RESULT, else ""
        8 error_code  str   stable code on FAILED, else ""
        9 error_text  str   human message on FAILED, else ""

    STATE (type 4): the state of a task after the sink committed an event,
    published as two frames, the task id (the topic) then the message.
    A terminal STATE may repeat (it answers every late terminal EVENT).
        2 task_id     str
        3 status      str   pending, processing, completed, error,
                            cancelled
        4 attempt     uint  the attempt the event was about
        5 worker      str   who sent the event
        6 time_ms     uint  sink clock, ms since the Unix epoch
        7 error_code  str   the task's error code, "" if none

    The front door (gateway ROUTER, "front"; clients DEALER or REQ) takes
    requests and answers each with one REPLY carrying the request's id:
    SUBMIT (type 5)                    REPLY (type 6)
        2 request_id  str  <= 128          2 request_id  str
        3 task_type   str                  3 status      uint  HTTP status
        4 priority    uint 0..9            4 body        str   JSON text, as
        5 images      array of bin                             HTTP answers
        6 form        str  JSON or ""        7 file_lib    str  JSON or ""
        8 idempotency_key str <= 128, "" for none (optional: a SUBMIT
                          of 8 fields has none)
    STATUS (type 7), CANCEL (type 8)
        2 request_id  str
        3 task_id     str
    =========================================================================
*/

#ifndef DS_PROTO_H_INCLUDED
#define DS_PROTO_H_INCLUDED

#define DS_PROTO_VERSION 1

//  Message types
#define DS_PROTO_QUEUE 1
#define DS_PROTO_TASK 2
#define DS_PROTO_EVENT 3
#define DS_PROTO_STATE 4
#define DS_PROTO_SUBMIT 5
#define DS_PROTO_REPLY 6
#define DS_PROTO_STATUS 7
#define DS_PROTO_CANCEL 8

//  Event kinds
#define DS_EVENT_STARTED 1
#define DS_EVENT_HEARTBEAT 2
#define DS_EVENT_RESULT 3
#define DS_EVENT_FAILED 4
#define DS_EVENT_CANCELLED 5

//  Limits, checked before anything is allocated
#define DS_PROTO_MAX_FRAME (64 * 1024 * 1024)  //  bytes in one frame
#define DS_PROTO_MAX_IMAGES 32                 //  images in one TASK
#define DS_PROTO_MAX_NAME 128                  //  ids, types, names, codes
#define DS_PROTO_MAX_TEXT (16 * 1024 * 1024)   //  JSON and message strings
#define DS_PROTO_MAX_DEPTH 4                   //  msgpack nesting
#define DS_PROTO_MAX_PRIORITY 9

#ifdef __cplusplus
extern "C" {
#endif

//  Create an empty message of the given type (DS_PROTO_QUEUE, ...), or
//  type 0 for one that ds_proto_decode or ds_proto_recv will fill.
ds_proto_t *ds_proto_new (int type);

//  Destroy a message; nulls the caller's reference.
void ds_proto_destroy (ds_proto_t **self_p);

//  Decode one frame's bytes into self, replacing its content. Returns 0 on
//  success, -1 on a malformed frame; ds_proto_reason says why.
int ds_proto_decode (ds_proto_t *self, const void *data, size_t size);

//  Encode self into a new frame that the caller owns.
zframe_t *ds_proto_encode (ds_proto_t *self);

//  Receive one message from the socket and decode it. Returns 0 on
//  success, -1 when interrupted or when the frame was malformed (then
//  ds_proto_reason is set; multi-frame messages are malformed).
int ds_proto_recv (ds_proto_t *self, void *sock);

//  Decode a received message that must be of the given type (0: any): one
//  frame, or two (topic, message) for DS_PROTO_STATE. Returns 0, or -1
//  with ds_proto_reason set (frame count, wrong type, or the decoder's).
int ds_proto_decode_msg (ds_proto_t *self, zmsg_t *msg, int type);

//  Log a message the caller rejects, as "WHO: BAD-FRAME reason=...
//  frames=N sample=..." with a bounded, printable sample.
void ds_proto_log_rejected (ds_proto_t *self, const char *who, zmsg_t *msg);

//  Send self on the socket. Returns 0, or -1 if the send failed.
int ds_proto_send (ds_proto_t *self, void *sock);

//  Why the last decode failed ("" after success).
const char *ds_proto_reason (ds_proto_t *self);

//  Message type, and its name ("QUEUE", ...)
int ds_proto_type (ds_proto_t *self);
const char *ds_proto_type_name (ds_proto_t *self);

//  Fields. String getters return borrowed text, never NULL ("" if unset).
const char *ds_proto_task_id (ds_proto_t *self);
void ds_proto_set_task_id (ds_proto_t *self, const char *task_id);
const char *ds_proto_task_type (ds_proto_t *self);
void ds_proto_set_task_type (ds_proto_t *self, const char *task_type);
int ds_proto_priority (ds_proto_t *self);
void ds_proto_set_priority (ds_proto_t *self, int priority);
int ds_proto_attempt (ds_proto_t *self);
void ds_proto_set_attempt (ds_proto_t *self, int attempt);
const char *ds_proto_form (ds_proto_t *self);
void ds_proto_set_form (ds_proto_t *self, const char *form);
const char *ds_proto_file_lib (ds_proto_t *self);
void ds_proto_set_file_lib (ds_proto_t *self, const char *file_lib);
int ds_proto_event (ds_proto_t *self);
void ds_proto_set_event (ds_proto_t *self, int event);
const char *ds_proto_worker (ds_proto_t *self);
void ds_proto_set_worker (ds_proto_t *self, const char *worker);
int64_t ds_proto_time_ms (ds_proto_t *self);
void ds_proto_set_time_ms (ds_proto_t *self, int64_t time_ms);
const char *ds_proto_result (ds_proto_t *self);
void ds_proto_set_result (ds_proto_t *self, const char *result);
const char *ds_proto_error_code (ds_proto_t *self);
const char *ds_proto_error_text (ds_proto_t *self);
void ds_proto_set_error (ds_proto_t *self, const char *code, const char *text);

//  Front door: a SUBMIT's idempotency key ("" for none)
const char *ds_proto_idempotency_key (ds_proto_t *self);
void ds_proto_set_idempotency_key (ds_proto_t *self, const char *key);

//  Front door: the client's request id, and a REPLY's HTTP-style status
const char *ds_proto_request_id (ds_proto_t *self);
void ds_proto_set_request_id (ds_proto_t *self, const char *request_id);
int ds_proto_status_code (ds_proto_t *self);
void ds_proto_set_status_code (ds_proto_t *self, int status_code);

//  Task status of a STATE: pending, processing, completed, error, cancelled
const char *ds_proto_status (ds_proto_t *self);
void ds_proto_set_status (ds_proto_t *self, const char *status);

//  Images of a TASK, in page order. ds_proto_image returns a borrowed
//  chunk, NULL past the end. ds_proto_add_image copies the bytes.
size_t ds_proto_images (ds_proto_t *self);
zchunk_t *ds_proto_image (ds_proto_t *self, size_t index);
void ds_proto_add_image (ds_proto_t *self, const void *data, size_t size);

//  Self test of this class
void ds_proto_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
