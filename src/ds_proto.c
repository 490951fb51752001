/*  =========================================================================
    ds_proto - the docusnap wire protocol codec

    @header
    One class encodes and decodes every docusnap message (QUEUE, TASK,
    EVENT) as one msgpack array per ZMQ frame. The layout is specified in
    include/ds_proto.h. Decoding never trusts the input: a frame is walked
    once to check every declared length against the bytes actually present
    before msgpack-c allocates anything, then each field is type-checked.
    @end
    =========================================================================
*/

#include "ds_classes.h"

#define PROTO_FIELDS_QUEUE 5  //  version, type, 3 fields
#define PROTO_FIELDS_TASK 9
#define PROTO_FIELDS_EVENT 10
#define PROTO_FIELDS_STATE 8
#define PROTO_FIELDS_SUBMIT 8  //  at least; 9 with the idempotency key
#define PROTO_FIELDS_REPLY 5
#define PROTO_FIELDS_STATUS 4
#define PROTO_FIELDS_CANCEL 4
#define PROTO_REASON_MAX 160
#define PROTO_ZONE_CHUNK 512  //  first chunk of a decode's msgpack zone

//  Structure of our class

struct _ds_proto_t {
    int type;                        //  DS_PROTO_QUEUE, ... or 0 when empty
    char *task_id;                   //  task UUID
    char *task_type;                 //  document, form, form_filling
    int priority;                    //  0..9
    int attempt;                     //  dispatch attempt, from 1
    zlistx_t *images;                //  zchunk_t items, page order
    char *form;                      //  form JSON text
    char *file_lib;                  //  file library JSON text
    int event;                       //  DS_EVENT_*
    char *worker;                    //  worker identity
    int64_t time_ms;                 //  event time
    char *result;                    //  result JSON text
    char *error_code;                //  stable error code
    char *error_text;                //  human error message
    char *status;                    //  task status (STATE)
    char *request_id;                //  client's request id (front door)
    int status_code;                 //  HTTP-style status (REPLY)
    char *idempotency_key;           //  client's key (SUBMIT), may be ""
    uint32_t fields;                 //  fields in the decoded frame
    char reason [PROTO_REASON_MAX];  //  why the last decode failed
};

static void
s_chunk_destroy (void **item)
{
    zchunk_destroy ((zchunk_t **) item);
}


//  --------------------------------------------------------------------------
//  Create a new, empty message

ds_proto_t *
ds_proto_new (int type)
{
    ds_proto_t *self = (ds_proto_t *) zmalloc (sizeof (ds_proto_t));
    assert (self);
    self->type = type;
    self->images = zlistx_new ();
    assert (self->images);
    zlistx_set_destructor (self->images, s_chunk_destroy);
    return self;
}


//  --------------------------------------------------------------------------
//  Free every field, leaving an empty message

static void
s_proto_clear (ds_proto_t *self)
{
    zstr_free (&self->task_id);
    zstr_free (&self->task_type);
    zstr_free (&self->form);
    zstr_free (&self->file_lib);
    zstr_free (&self->worker);
    zstr_free (&self->result);
    zstr_free (&self->error_code);
    zstr_free (&self->error_text);
    zstr_free (&self->status);
    zstr_free (&self->request_id);
    zstr_free (&self->idempotency_key);
    self->status_code = 0;
    zlistx_purge (self->images);
    self->priority = 0;
    self->attempt = 0;
    self->event = 0;
    self->time_ms = 0;
}


//  --------------------------------------------------------------------------
//  Destroy a message

void
ds_proto_destroy (ds_proto_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ds_proto_t *self = *self_p;
        s_proto_clear (self);
        zlistx_destroy (&self->images);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Record why decoding failed; always returns -1

static int
s_reject (ds_proto_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->reason, sizeof (self->reason), format, args);
    va_end (args);
    return -1;
}


//  --------------------------------------------------------------------------
//  Read a big-endian unsigned integer of width bytes

static uint64_t
s_be (const uint8_t *bytes, size_t width)
{
    uint64_t value = 0;
    for (size_t byte_nbr = 0; byte_nbr < width; byte_nbr++)
        value = (value << 8) | bytes [byte_nbr];
    return value;
}


//  --------------------------------------------------------------------------
//  Walk one msgpack object at *offset, checking that every declared length
//  fits in the bytes that remain and that nesting stays shallow. Advances
//  *offset past the object. Returns 0 if sane, -1 if not.

static int
s_walk (const uint8_t *data, size_t size, size_t *offset, int depth)
{
    if (depth > DS_PROTO_MAX_DEPTH || *offset >= size)
        return -1;
    uint8_t head = data [(*offset)++];
    size_t remaining = size - *offset;
    uint64_t length = 0;  //  payload bytes (str, bin, ext)
    uint64_t items = 0;   //  child objects (array, map x2)
    size_t width = 0;     //  bytes of the length field

    if (head <= 0x7f || head >= 0xe0 || head == 0xc0 || head == 0xc2
        || head == 0xc3)
        return 0;  //  fixint, nil, bool
    else if ((head & 0xe0) == 0xa0)
        length = head & 0x1f;  //  fixstr
    else if ((head & 0xf0) == 0x90)
        items = head & 0x0f;  //  fixarray
    else if ((head & 0xf0) == 0x80)
        items = (head & 0x0f) * 2;  //  fixmap
    else
        switch (head) {
            case 0xcc:
            case 0xd0:
                length = 1;
                break;
            case 0xcd:
            case 0xd1:
                length = 2;
                break;
            case 0xca:
            case 0xce:
            case 0xd2:
                length = 4;
                break;
            case 0xcb:
            case 0xcf:
            case 0xd3:
                length = 8;
                break;
            case 0xd4:
                length = 2;
                break;
            case 0xd5:
                length = 3;
                break;
            case 0xd6:
                length = 5;
                break;
            case 0xd7:
                length = 9;
                break;
            case 0xd8:
                length = 17;
                break;
            case 0xc4:
            case 0xd9:
                width = 1;
                break;
            case 0xc5:
            case 0xda:
                width = 2;
                break;
            case 0xc6:
            case 0xdb:
                width = 4;
                break;
            case 0xc7:
                width = 1;
                break;
            case 0xc8:
                width = 2;
                break;
            case 0xc9:
                width = 4;
                break;
            case 0xdc:
            case 0xde:
                width = 2;
                break;
            case 0xdd:
            case 0xdf:
                width = 4;
                break;
            default:
                return -1;  //  0xc1 is never used
        }
    if (width) {
        if (remaining < width)
            return -1;
        uint64_t declared = s_be (data + *offset, width);
        *offset += width;
        remaining -= width;
        if (head == 0xdc || head == 0xdd)
            items = declared;
        else if (head == 0xde || head == 0xdf)
            items = declared * 2;
        else if (head >= 0xc7 && head <= 0xc9)
            length = declared + 1;  //  ext: type byte, then data
        else
            length = declared;
    }
    if (length > remaining)
        return -1;
    *offset += length;
    if (items > size - *offset)
        return -1;  //  each item needs one byte at least
    for (uint64_t item_nbr = 0; item_nbr < items; item_nbr++)
        if (s_walk (data, size, offset, depth + 1))
            return -1;
    return 0;
}


//  --------------------------------------------------------------------------
//  Copy a msgpack string field into *target. Returns 0 or -1.

static int
s_get_str (ds_proto_t *self,
           msgpack_object *object,
           const char *name,
           size_t limit,
           char **target)
{
    if (object->type != MSGPACK_OBJECT_STR)
        return s_reject (self, "field '%s' is not a string", name);
    if (object->via.str.size > limit)
        return s_reject (self, "field '%s' is longer than %zu bytes", name,
                         limit);
    //  msgpack-c gives a NULL pointer for an empty string
    size_t size = object->via.str.size;
    if (size && memchr (object->via.str.ptr, 0, size))
        return s_reject (self, "field '%s' holds a NUL byte", name);
    zstr_free (target);
    *target = (char *) malloc (size + 1);
    assert (*target);
    if (size)
        memcpy (*target, object->via.str.ptr, size);
    (*target) [size] = 0;
    return 0;
}


//  --------------------------------------------------------------------------
//  Read an unsigned integer field within [0, limit]. Returns 0 or -1.

static int
s_get_uint (ds_proto_t *self,
            msgpack_object *object,
            const char *name,
            uint64_t limit,
            uint64_t *target)
{
    if (object->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return s_reject (self, "field '%s' is not an unsigned integer", name);
    if (object->via.u64 > limit)
        return s_reject (self, "field '%s' is over its limit %" PRIu64, name,
                         limit);
    *target = object->via.u64;
    return 0;
}


//  --------------------------------------------------------------------------
//  Copy an array of bin images. Returns 0 or -1.

static int
s_get_images (ds_proto_t *self, msgpack_object *images)
{
    if (images->type != MSGPACK_OBJECT_ARRAY)
        return s_reject (self, "field 'images' is not an array");
    if (images->via.array.size > DS_PROTO_MAX_IMAGES)
        return s_reject (self, "more than %d images", DS_PROTO_MAX_IMAGES);
    for (uint32_t image_nbr = 0; image_nbr < images->via.array.size;
         image_nbr++) {
        msgpack_object *image = &images->via.array.ptr [image_nbr];
        if (image->type != MSGPACK_OBJECT_BIN)
            return s_reject (self, "image %u is not bin", image_nbr);
        ds_proto_add_image (self, image->via.bin.ptr, image->via.bin.size);
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Decode the front door's messages (SUBMIT, REPLY, STATUS, CANCEL)

static int
s_decode_front (ds_proto_t *self, msgpack_object *field)
{
    uint64_t value = 0;
    if (s_get_str (self, &field [2], "request_id", DS_PROTO_MAX_NAME,
                   &self->request_id))
        return -1;
    if (self->type == DS_PROTO_SUBMIT) {
        if (s_get_str (self, &field [3], "task_type", DS_PROTO_MAX_NAME,
                       &self->task_type)
            || s_get_uint (self, &field [4], "priority", DS_PROTO_MAX_PRIORITY,
                           &value))
            return -1;
        self->priority = (int) value;
        if (s_get_images (self, &field [5])
            || s_get_str (self, &field [6], "form", DS_PROTO_MAX_TEXT,
                          &self->form)
            || s_get_str (self, &field [7], "file_lib", DS_PROTO_MAX_TEXT,
                          &self->file_lib))
            return -1;
        //  Field 8 came later: a SUBMIT of 8 fields has no key
        if (self->fields > 8
            && s_get_str (self, &field [8], "idempotency_key",
                          DS_PROTO_MAX_NAME, &self->idempotency_key))
            return -1;
    }
    else if (self->type == DS_PROTO_REPLY) {
        if (s_get_uint (self, &field [3], "status", 999, &value))
            return -1;
        self->status_code = (int) value;
        if (s_get_str (self, &field [4], "body", DS_PROTO_MAX_TEXT,
                       &self->result))
            return -1;
    }
    else if (s_get_str (self, &field [3], "task_id", DS_PROTO_MAX_NAME,
                        &self->task_id))
        return -1;
    return 0;
}


//  --------------------------------------------------------------------------
//  Decode the fields of a message whose array is checked for length

static int
s_decode_fields (ds_proto_t *self, msgpack_object *field)
{
    uint64_t value = 0;
    if (self->type >= DS_PROTO_SUBMIT)
        return s_decode_front (self, field);
    if (s_get_str (self, &field [2], "task_id", DS_PROTO_MAX_NAME,
                   &self->task_id))
        return -1;
    if (self->type == DS_PROTO_QUEUE || self->type == DS_PROTO_TASK) {
        if (s_get_str (self, &field [3], "task_type", DS_PROTO_MAX_NAME,
                       &self->task_type)
            || s_get_uint (self, &field [4], "priority", DS_PROTO_MAX_PRIORITY,
                           &value))
            return -1;
        self->priority = (int) value;
    }
    if (self->type == DS_PROTO_TASK) {
        if (s_get_uint (self, &field [5], "attempt", INT_MAX, &value))
            return -1;
        self->attempt = (int) value;
        if (s_get_images (self, &field [6]))
            return -1;
        if (s_get_str (self, &field [7], "form", DS_PROTO_MAX_TEXT, &self->form)
            || s_get_str (self, &field [8], "file_lib", DS_PROTO_MAX_TEXT,
                          &self->file_lib))
            return -1;
    }
    if (self->type == DS_PROTO_EVENT) {
        if (s_get_uint (self, &field [3], "event", DS_EVENT_CANCELLED, &value))
            return -1;
        if (value < DS_EVENT_STARTED)
            return s_reject (self, "field 'event' is 0");
        self->event = (int) value;
        if (s_get_str (self, &field [4], "worker", DS_PROTO_MAX_NAME,
                       &self->worker)
            || s_get_uint (self, &field [5], "attempt", INT_MAX, &value))
            return -1;
        self->attempt = (int) value;
        if (s_get_uint (self, &field [6], "time_ms", INT64_MAX, &value))
            return -1;
        self->time_ms = (int64_t) value;
        if (s_get_str (self, &field [7], "result", DS_PROTO_MAX_TEXT,
                       &self->result)
            || s_get_str (self, &field [8], "error_code", DS_PROTO_MAX_NAME,
                          &self->error_code)
            || s_get_str (self, &field [9], "error_text", DS_PROTO_MAX_TEXT,
                          &self->error_text))
            return -1;
    }
    if (self->type == DS_PROTO_STATE) {
        if (s_get_str (self, &field [3], "status", DS_PROTO_MAX_NAME,
                       &self->status)
            || s_get_uint (self, &field [4], "attempt", INT_MAX, &value))
            return -1;
        self->attempt = (int) value;
        if (s_get_str (self, &field [5], "worker", DS_PROTO_MAX_NAME,
                       &self->worker)
            || s_get_uint (self, &field [6], "time_ms", INT64_MAX, &value))
            return -1;
        self->time_ms = (int64_t) value;
        if (s_get_str (self, &field [7], "error_code", DS_PROTO_MAX_NAME,
                       &self->error_code))
            return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Decode one frame into self

int
ds_proto_decode (ds_proto_t *self, const void *data, size_t size)
{
    assert (self);
    s_proto_clear (self);
    self->type = 0;
    self->reason [0] = 0;
    if (!data || size == 0)
        return s_reject (self, "empty frame");
    if (size > DS_PROTO_MAX_FRAME)
        return s_reject (self, "frame of %zu bytes is over the limit", size);
    size_t offset = 0;
    if (s_walk ((const uint8_t *) data, size, &offset, 0))
        return s_reject (self, "not valid msgpack (truncated or bad length)");
    if (offset != size)
        return s_reject (self, "%zu bytes after the message", size - offset);

    //  The objects go in a zone of our own with a small first chunk:
    //  msgpack_unpack_next's 8 KB zone per frame made each decode a large
    //  allocation, and glibc consolidates its free lists before each one.
    //  Strings and bins are not copied: they point into data.
    msgpack_zone zone;
    bool zone_ready = msgpack_zone_init (&zone, PROTO_ZONE_CHUNK);
    assert (zone_ready);
    msgpack_object object;
    size_t unpacked = 0;
    int rc = -1;
    if (msgpack_unpack ((const char *) data, size, &unpacked, &zone, &object)
        != MSGPACK_UNPACK_SUCCESS)
        s_reject (self, "msgpack-c could not unpack the frame");
    else {
        msgpack_object *root = &object;
        msgpack_object *field = root->via.array.ptr;
        uint64_t version, type = 0;
        if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 2)
            s_reject (self, "frame is not an array [version, type, ...]");
        else if (field [0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
                 || field [0].via.u64 != DS_PROTO_VERSION)
            s_reject (self, "unsupported protocol version");
        else if (s_get_uint (self, &field [1], "type", DS_PROTO_CANCEL, &type))
            ;
        else {
            version = field [0].via.u64;
            size_t needed = type == DS_PROTO_QUEUE    ? PROTO_FIELDS_QUEUE
                            : type == DS_PROTO_TASK   ? PROTO_FIELDS_TASK
                            : type == DS_PROTO_EVENT  ? PROTO_FIELDS_EVENT
                            : type == DS_PROTO_STATE  ? PROTO_FIELDS_STATE
                            : type == DS_PROTO_SUBMIT ? PROTO_FIELDS_SUBMIT
                            : type == DS_PROTO_REPLY  ? PROTO_FIELDS_REPLY
                            : type == DS_PROTO_STATUS ? PROTO_FIELDS_STATUS
                            : type == DS_PROTO_CANCEL ? PROTO_FIELDS_CANCEL
                                                      : 0;
            self->type = (int) type;
            if (needed == 0)
                s_reject (self, "unknown message type %" PRIu64, type);
            else if (root->via.array.size < needed)
                s_reject (self, "v%" PRIu64 " %s needs %zu fields, got %u",
                          version, ds_proto_type_name (self), needed,
                          root->via.array.size);
            else {
                self->fields = root->via.array.size;
                rc = s_decode_fields (self, field);
            }
        }
    }
    msgpack_zone_destroy (&zone);
    if (rc) {
        s_proto_clear (self);
        self->type = 0;
    }
    return rc;
}


//  --------------------------------------------------------------------------
//  Pack a string, treating NULL as ""

static void
s_pack_str (msgpack_packer *packer, const char *string)
{
    size_t length = string ? strlen (string) : 0;
    msgpack_pack_str (packer, length);
    msgpack_pack_str_body (packer, string ? string : "", length);
}


//  --------------------------------------------------------------------------
//  Pack a list of images as an array of bin

static void
s_pack_images (msgpack_packer *packer, zlistx_t *images)
{
    msgpack_pack_array (packer, zlistx_size (images));
    zchunk_t *image = (zchunk_t *) zlistx_first (images);
    while (image) {
        msgpack_pack_bin (packer, zchunk_size (image));
        msgpack_pack_bin_body (packer, zchunk_data (image),
                               zchunk_size (image));
        image = (zchunk_t *) zlistx_next (images);
    }
}


//  --------------------------------------------------------------------------
//  The encoder's buffer: on the stack for the usual small message, on the
//  heap once it outgrows that (msgpack_sbuffer would start at 8 KB of heap
//  for every message)

#define PROTO_STACK_BUFFER 1024

typedef struct {
    char *data;   //  the bytes
    size_t size;  //  bytes used
    size_t max;   //  bytes allocated
    bool heap;    //  data is on the heap
} buffer_t;

static int
s_buffer_write (void *data, const char *bytes, size_t length)
{
    buffer_t *buffer = (buffer_t *) data;
    if (buffer->size + length > buffer->max) {
        size_t wanted = buffer->max * 2;
        while (wanted < buffer->size + length)
            wanted *= 2;
        char *grown = (char *) malloc (wanted);
        assert (grown);
        memcpy (grown, buffer->data, buffer->size);
        if (buffer->heap)
            free (buffer->data);
        buffer->data = grown;
        buffer->max = wanted;
        buffer->heap = true;
    }
    memcpy (buffer->data + buffer->size, bytes, length);
    buffer->size += length;
    return 0;
}


//  --------------------------------------------------------------------------
//  Encode self into a new frame

zframe_t *
ds_proto_encode (ds_proto_t *self)
{
    assert (self);
    assert (self->type >= DS_PROTO_QUEUE && self->type <= DS_PROTO_CANCEL);
    char stack [PROTO_STACK_BUFFER];
    buffer_t buffer = {stack, 0, sizeof (stack), false};
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, s_buffer_write);

    size_t fields = self->type == DS_PROTO_QUEUE    ? PROTO_FIELDS_QUEUE
                    : self->type == DS_PROTO_TASK   ? PROTO_FIELDS_TASK
                    : self->type == DS_PROTO_EVENT  ? PROTO_FIELDS_EVENT
                    : self->type == DS_PROTO_STATE  ? PROTO_FIELDS_STATE
                    : self->type == DS_PROTO_SUBMIT ? PROTO_FIELDS_SUBMIT + 1
                    : self->type == DS_PROTO_REPLY  ? PROTO_FIELDS_REPLY
                                                    : PROTO_FIELDS_STATUS;
    msgpack_pack_array (&packer, fields);
    msgpack_pack_uint8 (&packer, DS_PROTO_VERSION);
    msgpack_pack_uint8 (&packer, (uint8_t) self->type);
    if (self->type >= DS_PROTO_SUBMIT)
        s_pack_str (&packer, self->request_id);
    else
        s_pack_str (&packer, self->task_id);
    if (self->type == DS_PROTO_QUEUE || self->type == DS_PROTO_TASK) {
        s_pack_str (&packer, self->task_type);
        msgpack_pack_uint32 (&packer, (uint32_t) self->priority);
    }
    if (self->type == DS_PROTO_TASK) {
        msgpack_pack_uint32 (&packer, (uint32_t) self->attempt);
        s_pack_images (&packer, self->images);
        s_pack_str (&packer, self->form);
        s_pack_str (&packer, self->file_lib);
    }
    if (self->type == DS_PROTO_EVENT) {
        msgpack_pack_uint32 (&packer, (uint32_t) self->event);
        s_pack_str (&packer, self->worker);
        msgpack_pack_uint32 (&packer, (uint32_t) self->attempt);
        msgpack_pack_uint64 (&packer, (uint64_t) self->time_ms);
        s_pack_str (&packer, self->result);
        s_pack_str (&packer, self->error_code);
        s_pack_str (&packer, self->error_text);
    }
    if (self->type == DS_PROTO_SUBMIT) {
        s_pack_str (&packer, self->task_type);
        msgpack_pack_uint32 (&packer, (uint32_t) self->priority);
        s_pack_images (&packer, self->images);
        s_pack_str (&packer, self->form);
        s_pack_str (&packer, self->file_lib);
        s_pack_str (&packer, self->idempotency_key);
    }
    if (self->type == DS_PROTO_REPLY) {
        msgpack_pack_uint32 (&packer, (uint32_t) self->status_code);
        s_pack_str (&packer, self->result);
    }
    if (self->type == DS_PROTO_STATUS || self->type == DS_PROTO_CANCEL)
        s_pack_str (&packer, self->task_id);
    if (self->type == DS_PROTO_STATE) {
        s_pack_str (&packer, self->status);
        msgpack_pack_uint32 (&packer, (uint32_t) self->attempt);
        s_pack_str (&packer, self->worker);
        msgpack_pack_uint64 (&packer, (uint64_t) self->time_ms);
        s_pack_str (&packer, self->error_code);
    }
    zframe_t *frame = zframe_new (buffer.data, buffer.size);
    assert (frame);
    if (buffer.heap)
        free (buffer.data);
    return frame;
}


//  --------------------------------------------------------------------------
//  Decode a received message of the expected type

int
ds_proto_decode_msg (ds_proto_t *self, zmsg_t *msg, int type)
{
    assert (self);
    assert (msg);
    //  A STATE comes as [topic][message]; everything else as [message]
    size_t frames = type == DS_PROTO_STATE ? 2 : 1;
    if (zmsg_size (msg) != frames) {
        s_proto_clear (self);
        self->type = 0;
        return s_reject (self, "message has %zu frames, expected %zu",
                         zmsg_size (msg), frames);
    }
    zframe_t *frame = zmsg_last (msg);
    if (ds_proto_decode (self, zframe_data (frame), zframe_size (frame)))
        return -1;
    if (type && self->type != type) {
        const char *got = ds_proto_type_name (self);
        s_proto_clear (self);
        self->type = type;
        const char *wanted = ds_proto_type_name (self);
        self->type = 0;
        return s_reject (self, "a %s where a %s was expected", got, wanted);
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Log a rejected message with a bounded, printable sample

void
ds_proto_log_rejected (ds_proto_t *self, const char *who, zmsg_t *msg)
{
    zframe_t *frame = zmsg_last (msg);
    char sample [DS_UTIL_SAMPLE + 1];
    ds_util_sample (frame ? zframe_data (frame) : NULL,
                    frame ? zframe_size (frame) : 0, sample);
    //  A message that decoded but is not wanted here has no reason yet
    zsys_warning ("%s: BAD-FRAME reason=\"%s\" type=%s frames=%zu "
                  "sample=\"%s\"",
                  who, *self->reason ? self->reason : "unexpected type",
                  ds_proto_type_name (self), zmsg_size (msg), sample);
}


//  --------------------------------------------------------------------------
//  Receive and decode one message

int
ds_proto_recv (ds_proto_t *self, void *sock)
{
    assert (self);
    zmsg_t *msg = zmsg_recv (sock);
    if (!msg)
        return s_reject (self, "interrupted");
    int rc = ds_proto_decode_msg (self, msg, 0);
    zmsg_destroy (&msg);
    return rc;
}


//  --------------------------------------------------------------------------
//  Send self on the socket

int
ds_proto_send (ds_proto_t *self, void *sock)
{
    zframe_t *frame = ds_proto_encode (self);
    int rc = zframe_send (&frame, sock, 0);
    zframe_destroy (&frame);
    return rc;
}


//  --------------------------------------------------------------------------
//  Accessors

const char *
ds_proto_reason (ds_proto_t *self)
{
    return self->reason;
}

int
ds_proto_type (ds_proto_t *self)
{
    return self->type;
}

const char *
ds_proto_type_name (ds_proto_t *self)
{
    switch (self->type) {
        case DS_PROTO_QUEUE:
            return "QUEUE";
        case DS_PROTO_TASK:
            return "TASK";
        case DS_PROTO_EVENT:
            return "EVENT";
        case DS_PROTO_STATE:
            return "STATE";
        case DS_PROTO_SUBMIT:
            return "SUBMIT";
        case DS_PROTO_REPLY:
            return "REPLY";
        case DS_PROTO_STATUS:
            return "STATUS";
        case DS_PROTO_CANCEL:
            return "CANCEL";
        default:
            return "UNKNOWN";
    }
}

static void
s_set (char **target, const char *value)
{
    zstr_free (target);
    *target = strdup (value ? value : "");
    assert (*target);
}

const char *
ds_proto_task_id (ds_proto_t *self)
{
    return self->task_id ? self->task_id : "";
}

void
ds_proto_set_task_id (ds_proto_t *self, const char *task_id)
{
    s_set (&self->task_id, task_id);
}

const char *
ds_proto_task_type (ds_proto_t *self)
{
    return self->task_type ? self->task_type : "";
}

void
ds_proto_set_task_type (ds_proto_t *self, const char *task_type)
{
    s_set (&self->task_type, task_type);
}

int
ds_proto_priority (ds_proto_t *self)
{
    return self->priority;
}

void
ds_proto_set_priority (ds_proto_t *self, int priority)
{
    assert (priority >= 0 && priority <= DS_PROTO_MAX_PRIORITY);
    self->priority = priority;
}

int
ds_proto_attempt (ds_proto_t *self)
{
    return self->attempt;
}

void
ds_proto_set_attempt (ds_proto_t *self, int attempt)
{
    assert (attempt >= 0);
    self->attempt = attempt;
}

const char *
ds_proto_form (ds_proto_t *self)
{
    return self->form ? self->form : "";
}

void
ds_proto_set_form (ds_proto_t *self, const char *form)
{
    s_set (&self->form, form);
}

const char *
ds_proto_file_lib (ds_proto_t *self)
{
    return self->file_lib ? self->file_lib : "";
}

void
ds_proto_set_file_lib (ds_proto_t *self, const char *file_lib)
{
    s_set (&self->file_lib, file_lib);
}

int
ds_proto_event (ds_proto_t *self)
{
    return self->event;
}

void
ds_proto_set_event (ds_proto_t *self, int event)
{
    assert (event >= DS_EVENT_STARTED && event <= DS_EVENT_CANCELLED);
    self->event = event;
}

const char *
ds_proto_worker (ds_proto_t *self)
{
    return self->worker ? self->worker : "";
}

void
ds_proto_set_worker (ds_proto_t *self, const char *worker)
{
    s_set (&self->worker, worker);
}

int64_t
ds_proto_time_ms (ds_proto_t *self)
{
    return self->time_ms;
}

void
ds_proto_set_time_ms (ds_proto_t *self, int64_t time_ms)
{
    assert (time_ms >= 0);
    self->time_ms = time_ms;
}

const char *
ds_proto_result (ds_proto_t *self)
{
    return self->result ? self->result : "";
}

void
ds_proto_set_result (ds_proto_t *self, const char *result)
{
    s_set (&self->result, result);
}

const char *
ds_proto_error_code (ds_proto_t *self)
{
    return self->error_code ? self->error_code : "";
}

const char *
ds_proto_error_text (ds_proto_t *self)
{
    return self->error_text ? self->error_text : "";
}

void
ds_proto_set_error (ds_proto_t *self, const char *code, const char *text)
{
    s_set (&self->error_code, code);
    s_set (&self->error_text, text);
}

const char *
ds_proto_idempotency_key (ds_proto_t *self)
{
    return self->idempotency_key ? self->idempotency_key : "";
}

void
ds_proto_set_idempotency_key (ds_proto_t *self, const char *key)
{
    s_set (&self->idempotency_key, key);
}

const char *
ds_proto_request_id (ds_proto_t *self)
{
    return self->request_id ? self->request_id : "";
}

void
ds_proto_set_request_id (ds_proto_t *self, const char *request_id)
{
    s_set (&self->request_id, request_id);
}

int
ds_proto_status_code (ds_proto_t *self)
{
    return self->status_code;
}

void
ds_proto_set_status_code (ds_proto_t *self, int status_code)
{
    assert (status_code >= 0 && status_code <= 999);
    self->status_code = status_code;
}

const char *
ds_proto_status (ds_proto_t *self)
{
    return self->status ? self->status : "";
}

void
ds_proto_set_status (ds_proto_t *self, const char *status)
{
    s_set (&self->status, status);
}

size_t
ds_proto_images (ds_proto_t *self)
{
    return zlistx_size (self->images);
}

zchunk_t *
ds_proto_image (ds_proto_t *self, size_t index)
{
    zchunk_t *image = (zchunk_t *) zlistx_first (self->images);
    while (image && index--)
        image = (zchunk_t *) zlistx_next (self->images);
    return image;
}

void
ds_proto_add_image (ds_proto_t *self, const void *data, size_t size)
{
    zchunk_t *image = zchunk_new (data, size);
    assert (image);
    zlistx_add_end (self->images, image);
}


//  --------------------------------------------------------------------------
//  Self test: round trip every message, reject malformed frames

void
ds_proto_test (bool verbose)
{
    printf (" * ds_proto: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    zsock_t *output = zsock_new_pair ("@inproc://selftest-ds_proto");
    zsock_t *input = zsock_new_pair (">inproc://selftest-ds_proto");
    assert (output && input);
    zsock_set_rcvtimeo (input, 2000);

    //  QUEUE round trip over a real socket
    ds_proto_t *message = ds_proto_new (DS_PROTO_QUEUE);
    ds_proto_set_task_id (message, "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    ds_proto_set_task_type (message, "document");
    ds_proto_set_priority (message, 7);
    assert (ds_proto_send (message, output) == 0);
    ds_proto_t *copy = ds_proto_new (0);
    assert (ds_proto_recv (copy, input) == 0);
    assert (ds_proto_type (copy) == DS_PROTO_QUEUE);
    assert (streq (ds_proto_task_id (copy),
                   "1b4e28ba-2fa1-11d2-883f-0016d3cca427"));
    assert (streq (ds_proto_task_type (copy), "document"));
    assert (ds_proto_priority (copy) == 7);
    //  Byte for byte as in docs/PROTOCOL.md, section 5
    const byte expected [] = {
        0x95, 0x01, 0x01, 0xd9, 0x24, '1', 'b', '4', 'e', '2', '8', 'b', 'a',
        '-',  '2',  'f',  'a',  '1',  '-', '1', '1', 'd', '2', '-', '8', '8',
        '3',  'f',  '-',  '0',  '0',  '1', '6', 'd', '3', 'c', 'c', 'a', '4',
        '2',  '7',  0xa8, 'd',  'o',  'c', 'u', 'm', 'e', 'n', 't', 0x07};
    zframe_t *encoded = ds_proto_encode (message);
    assert (zframe_size (encoded) == sizeof (expected));
    assert (memcmp (zframe_data (encoded), expected, sizeof (expected)) == 0);
    zframe_destroy (&encoded);
    ds_proto_destroy (&message);

    //  TASK round trip keeps image order and bytes
    message = ds_proto_new (DS_PROTO_TASK);
    ds_proto_set_task_id (message, "t1");
    ds_proto_set_task_type (message, "form_filling");
    ds_proto_set_priority (message, 9);
    ds_proto_set_attempt (message, 2);
    ds_proto_add_image (message, "\x89PNG", 4);
    ds_proto_add_image (message, "\0\1\2", 3);
    ds_proto_set_form (message, "{\"fields\":[\"Name\"]}");
    ds_proto_set_file_lib (message, "{}");
    assert (ds_proto_send (message, output) == 0);
    assert (ds_proto_recv (copy, input) == 0);
    assert (ds_proto_type (copy) == DS_PROTO_TASK);
    assert (ds_proto_attempt (copy) == 2);
    assert (ds_proto_images (copy) == 2);
    assert (zchunk_size (ds_proto_image (copy, 0)) == 4);
    assert (memcmp (zchunk_data (ds_proto_image (copy, 1)), "\0\1\2", 3) == 0);
    assert (ds_proto_image (copy, 2) == NULL);
    assert (streq (ds_proto_form (copy), "{\"fields\":[\"Name\"]}"));
    assert (streq (ds_proto_file_lib (copy), "{}"));
    ds_proto_destroy (&message);

    //  EVENT round trip
    message = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_task_id (message, "t2");
    ds_proto_set_event (message, DS_EVENT_FAILED);
    ds_proto_set_worker (message, "worker-1");
    ds_proto_set_attempt (message, 1);
    ds_proto_set_time_ms (message, 1764771826000);
    ds_proto_set_error (message, "OCR_FAILED", "page 2 is not an image");
    zframe_t *frame = ds_proto_encode (message);
    assert (ds_proto_decode (copy, zframe_data (frame), zframe_size (frame))
            == 0);
    assert (ds_proto_event (copy) == DS_EVENT_FAILED);
    assert (ds_proto_time_ms (copy) == 1764771826000);
    assert (streq (ds_proto_worker (copy), "worker-1"));
    assert (streq (ds_proto_error_code (copy), "OCR_FAILED"));
    assert (streq (ds_proto_error_text (copy), "page 2 is not an image"));
    assert (streq (ds_proto_result (copy), ""));

    //  Front door: SUBMIT and REPLY round trip
    ds_proto_t *submit = ds_proto_new (DS_PROTO_SUBMIT);
    ds_proto_set_request_id (submit, "r1");
    ds_proto_set_task_type (submit, "document");
    ds_proto_set_priority (submit, 3);
    ds_proto_add_image (submit, "\x89PNG", 4);
    zframe_t *submit_frame = ds_proto_encode (submit);
    ds_proto_t *submit_copy = ds_proto_new (0);
    assert (ds_proto_decode (submit_copy, zframe_data (submit_frame),
                             zframe_size (submit_frame))
            == 0);
    assert (ds_proto_type (submit_copy) == DS_PROTO_SUBMIT);
    assert (streq (ds_proto_request_id (submit_copy), "r1"));
    assert (ds_proto_images (submit_copy) == 1);
    assert (ds_proto_priority (submit_copy) == 3);
    zframe_destroy (&submit_frame);
    ds_proto_destroy (&submit);
    submit = ds_proto_new (DS_PROTO_REPLY);
    ds_proto_set_request_id (submit, "r1");
    ds_proto_set_status_code (submit, 202);
    ds_proto_set_result (submit, "{\"task_id\":\"x\"}");
    submit_frame = ds_proto_encode (submit);
    assert (ds_proto_decode (submit_copy, zframe_data (submit_frame),
                             zframe_size (submit_frame))
            == 0);
    assert (ds_proto_status_code (submit_copy) == 202);
    assert (streq (ds_proto_result (submit_copy), "{\"task_id\":\"x\"}"));
    zframe_destroy (&submit_frame);
    ds_proto_destroy (&submit);
    ds_proto_destroy (&submit_copy);

    //  STATE round trip
    ds_proto_t *state = ds_proto_new (DS_PROTO_STATE);
    ds_proto_set_task_id (state, "t3");
    ds_proto_set_status (state, "cancelled");
    ds_proto_set_attempt (state, 2);
    ds_proto_set_worker (state, "gateway");
    ds_proto_set_error (state, "CANCELLED", "");
    zframe_t *state_frame = ds_proto_encode (state);
    ds_proto_t *state_copy = ds_proto_new (0);
    assert (ds_proto_decode (state_copy, zframe_data (state_frame),
                             zframe_size (state_frame))
            == 0);
    assert (ds_proto_type (state_copy) == DS_PROTO_STATE);
    assert (streq (ds_proto_status (state_copy), "cancelled"));
    assert (ds_proto_attempt (state_copy) == 2);
    assert (streq (ds_proto_error_code (state_copy), "CANCELLED"));
    zframe_destroy (&state_frame);
    ds_proto_destroy (&state_copy);
    ds_proto_destroy (&state);

    //  Every truncation of a valid frame is rejected, never crashes
    for (size_t cut = 0; cut < zframe_size (frame); cut++)
        assert (ds_proto_decode (copy, zframe_data (frame), cut) == -1);
    //  Trailing garbage is rejected
    byte padded [256];
    assert (zframe_size (frame) < sizeof (padded));
    memcpy (padded, zframe_data (frame), zframe_size (frame));
    padded [zframe_size (frame)] = 0xc0;
    assert (ds_proto_decode (copy, padded, zframe_size (frame) + 1) == -1);
    zframe_destroy (&frame);
    ds_proto_destroy (&message);

#define DECODE(text) ds_proto_decode (copy, text, sizeof (text) - 1)
    //  Wrong version, unknown type, too few fields, wrong field type
    assert (DECODE ("\x93\x02\x01\xa1x") == -1);
    assert (strstr (ds_proto_reason (copy), "version"));
    assert (DECODE ("\x92\x01\x07") == -1);
    assert (DECODE ("\x93\x01\x01\xa1x") == -1);
    assert (strstr (ds_proto_reason (copy), "needs 5 fields"));
    assert (DECODE ("\x95\x01\x01\xa1x\xa1y\x0a") == -1);
    assert (strstr (ds_proto_reason (copy), "priority"));
    assert (DECODE ("\x95\x01\x01\x05\xa1y\x01") == -1);
    assert (strstr (ds_proto_reason (copy), "task_id"));
    //  Extra trailing fields of a known message are ignored
    assert (DECODE ("\x96\x01\x01\xa1x\xa1y\x01\xc0") == 0);
    assert (streq (ds_proto_task_id (copy), "x"));
    //  Huge declared lengths are refused before any allocation
    assert (DECODE ("\xdd\xff\xff\xff\xff\x01") == -1);
    assert (DECODE ("\xdb\x7f\xff\xff\xff") == -1);
    assert (DECODE ("\xc1") == -1);
    //  Nesting deeper than the limit is refused
    assert (DECODE ("\x91\x91\x91\x91\x91\x91\x01") == -1);
    //  Multi-frame messages are refused
    zstr_sendm (output, "a");
    zstr_send (output, "b");
    assert (ds_proto_recv (copy, input) == -1);
    assert (strstr (ds_proto_reason (copy), "frames"));
    //  A message of another type than expected is refused, and says so
    zmsg_t *wrong = zmsg_new ();
    message = ds_proto_new (DS_PROTO_QUEUE);
    ds_proto_set_task_id (message, "t4");
    ds_proto_set_task_type (message, "form");
    zframe_t *queue_frame = ds_proto_encode (message);
    ds_proto_destroy (&message);
    zmsg_append (wrong, &queue_frame);
    assert (ds_proto_decode_msg (copy, wrong, DS_PROTO_TASK) == -1);
    assert (
        streq (ds_proto_reason (copy), "a QUEUE where a TASK was expected"));
    assert (ds_proto_decode_msg (copy, wrong, DS_PROTO_QUEUE) == 0);
    assert (ds_proto_decode_msg (copy, wrong, DS_PROTO_STATE) == -1);
    zmsg_destroy (&wrong);

    ds_proto_destroy (&copy);
    zsock_destroy (&input);
    zsock_destroy (&output);
    //  @end
    printf ("OK\n");
}
