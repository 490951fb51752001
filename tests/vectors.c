/*  =========================================================================
    vectors - the wire protocol's test vectors

    vectors --write DIR   writes DIR/<name>.hex (the frame, as hex) and
                          DIR/<name>.json (its meaning) for every message
    vectors --check DIR   checks that the C codec still encodes each message
                          to the committed bytes, and decodes them back

    The .json file holds the msgpack array as JSON, binary fields as
    {"bin": "<hex>"}; tests/check_vectors.py packs it with another msgpack
    implementation and must get the same bytes.
    =========================================================================
*/

#include "docusnap.h"

#define VECTOR_ID "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

typedef struct {
    const char *name;     //  file name
    ds_proto_t *message;  //  the message
} vector_t;


//  --------------------------------------------------------------------------
//  The vectors: one per message type and event kind

static int
s_vectors (vector_t *vectors)
{
    int count = 0;
    ds_proto_t *message = ds_proto_new (DS_PROTO_QUEUE);
    ds_proto_set_task_id (message, VECTOR_ID);
    ds_proto_set_task_type (message, "document");
    ds_proto_set_priority (message, 7);
    vectors [count++] = (vector_t){"queue", message};

    message = ds_proto_new (DS_PROTO_TASK);
    ds_proto_set_task_id (message, VECTOR_ID);
    ds_proto_set_task_type (message, "form_filling");
    ds_proto_set_priority (message, 9);
    ds_proto_set_attempt (message, 2);
    ds_proto_set_form (message, "{\"fields\":[\"Full Name\"]}");
    ds_proto_set_file_lib (message, "{\"documents\":[{\"id\":\"d1\",\"kv\":"
                                    "{\"Full Name\":\"Maria Lopez\"}}]}");
    vectors [count++] = (vector_t){"task-form-filling", message};

    message = ds_proto_new (DS_PROTO_TASK);
    ds_proto_set_task_id (message, VECTOR_ID);
    ds_proto_set_task_type (message, "document");
    ds_proto_set_priority (message, 0);
    ds_proto_set_attempt (message, 1);
    ds_proto_add_image (message, "\x89PNG\r\n\x1a\n", 8);
    ds_proto_add_image (message, "\xff\xd8\xff\xe0", 4);
    vectors [count++] = (vector_t){"task-document", message};

    const char *kinds [] = {"started", "heartbeat", "result", "failed",
                            "cancelled"};
    for (int event = DS_EVENT_STARTED; event <= DS_EVENT_CANCELLED; event++) {
        message = ds_proto_new (DS_PROTO_EVENT);
        ds_proto_set_task_id (message, VECTOR_ID);
        ds_proto_set_event (message, event);
        ds_proto_set_worker (message, "host-4242");
        ds_proto_set_attempt (message, 1);
        ds_proto_set_time_ms (message, 1764771826120);
        if (event == DS_EVENT_RESULT)
            ds_proto_set_result (message,
                                 "{\"fields\":{\"Full Name\":{\"value\":"
                                 "\"Maria Lopez\",\"source\":{\"type\":"
                                 "\"document\",\"resource_id\":\"d1\"}}},"
                                 "\"extractor\":\"offline\"}");
        if (event == DS_EVENT_FAILED)
            ds_proto_set_error (message, "OCR_FAILED",
                                "page 1: not a supported image");
        char *name = zsys_sprintf ("event-%s", kinds [event - 1]);
        vectors [count++] = (vector_t){name, message};
    }
    message = ds_proto_new (DS_PROTO_SUBMIT);
    ds_proto_set_request_id (message, "req-1");
    ds_proto_set_task_type (message, "document");
    ds_proto_set_priority (message, 9);
    ds_proto_add_image (message, "\x89PNG\r\n\x1a\n", 8);
    vectors [count++] = (vector_t){"submit", message};

    message = ds_proto_new (DS_PROTO_REPLY);
    ds_proto_set_request_id (message, "req-1");
    ds_proto_set_status_code (message, 202);
    ds_proto_set_result (message, "{\"task_id\":\"" VECTOR_ID
                                  "\",\"status\":\"pending\"}");
    vectors [count++] = (vector_t){"reply", message};

    message = ds_proto_new (DS_PROTO_STATUS);
    ds_proto_set_request_id (message, "req-2");
    ds_proto_set_task_id (message, VECTOR_ID);
    vectors [count++] = (vector_t){"status", message};

    message = ds_proto_new (DS_PROTO_CANCEL);
    ds_proto_set_request_id (message, "req-3");
    ds_proto_set_task_id (message, VECTOR_ID);
    vectors [count++] = (vector_t){"cancel", message};

    message = ds_proto_new (DS_PROTO_STATE);
    ds_proto_set_task_id (message, VECTOR_ID);
    ds_proto_set_status (message, "error");
    ds_proto_set_attempt (message, 3);
    ds_proto_set_worker (message, "ventilator");
    ds_proto_set_time_ms (message, 1764771826999);
    ds_proto_set_error (message, "WORKER_LOST", "");
    vectors [count++] = (vector_t){"state-error", message};
    return count;
}


//  --------------------------------------------------------------------------
//  Hex of bytes; caller frees

static char *
s_hex (const byte *data, size_t size)
{
    char *hex = (char *) zmalloc (size * 2 + 2);
    for (size_t byte_nbr = 0; byte_nbr < size; byte_nbr++)
        snprintf (hex + byte_nbr * 2, 3, "%02x", data [byte_nbr]);
    strcat (hex, "\n");
    return hex;
}


//  --------------------------------------------------------------------------
//  The meaning of a frame as JSON: msgpack-c's object, bin as {"bin": hex}

static json_t *
s_meaning (msgpack_object *object)
{
    switch (object->type) {
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            return json_integer ((json_int_t) object->via.u64);
        case MSGPACK_OBJECT_STR:
            return json_stringn (object->via.str.ptr, object->via.str.size);
        case MSGPACK_OBJECT_BIN: {
            char *hex = s_hex ((const byte *) object->via.bin.ptr,
                               object->via.bin.size);
            hex [strlen (hex) - 1] = 0;
            json_t *value = json_pack ("{s:s}", "bin", hex);
            free (hex);
            return value;
        }
        case MSGPACK_OBJECT_ARRAY: {
            json_t *array = json_array ();
            for (uint32_t item = 0; item < object->via.array.size; item++)
                json_array_append_new (
                    array, s_meaning (&object->via.array.ptr [item]));
            return array;
        }
        default:
            return json_null ();
    }
}


int
main (int argc, char **argv)
{
    if (argc != 3
        || (!streq (argv [1], "--write") && !streq (argv [1], "--check"))) {
        fprintf (stderr, "usage: vectors --write|--check DIR\n");
        return 2;
    }
    bool write = streq (argv [1], "--write");
    vector_t vectors [24];
    int count = s_vectors (vectors);
    int failures = 0;
    for (int vector_nbr = 0; vector_nbr < count; vector_nbr++) {
        vector_t *vector = &vectors [vector_nbr];
        zframe_t *frame = ds_proto_encode (vector->message);
        char *hex = s_hex (zframe_data (frame), zframe_size (frame));
        char *hex_path = zsys_sprintf ("%s/%s.hex", argv [2], vector->name);
        char *json_path = zsys_sprintf ("%s/%s.json", argv [2], vector->name);
        msgpack_unpacked unpacked;
        msgpack_unpacked_init (&unpacked);
        msgpack_unpack_next (&unpacked, (const char *) zframe_data (frame),
                             zframe_size (frame), NULL);
        json_t *meaning = s_meaning (&unpacked.data);
        msgpack_unpacked_destroy (&unpacked);
        char *json = json_dumps (meaning, JSON_INDENT (2) | JSON_ENSURE_ASCII);
        char *json_line = zsys_sprintf ("%s\n", json);
        if (write) {
            ds_util_write_file (hex_path, hex);
            ds_util_write_file (json_path, json_line);
        }
        else {
            zchunk_t *committed = zchunk_slurp (hex_path, 0);
            char *text = committed ? zchunk_strdup (committed) : strdup ("");
            if (!streq (text, hex)) {
                fprintf (stderr,
                         "FAIL %s: the codec encodes\n  %s  not the "
                         "committed\n  %s\n",
                         vector->name, hex, text);
                failures++;
            }
            //  And the committed bytes decode to the same message
            ds_proto_t *decoded = ds_proto_new (0);
            if (ds_proto_decode (decoded, zframe_data (frame),
                                 zframe_size (frame))
                    != 0
                || ds_proto_type (decoded) != ds_proto_type (vector->message)
                || (ds_proto_type (decoded) != DS_PROTO_SUBMIT
                    && ds_proto_type (decoded) != DS_PROTO_REPLY
                    && !streq (ds_proto_task_id (decoded), VECTOR_ID))) {
                fprintf (stderr, "FAIL %s: does not decode back\n",
                         vector->name);
                failures++;
            }
            ds_proto_destroy (&decoded);
            zstr_free (&text);
            zchunk_destroy (&committed);
        }
        free (json);
        zstr_free (&json_line);
        json_decref (meaning);
        zstr_free (&hex);
        zstr_free (&hex_path);
        zstr_free (&json_path);
        zframe_destroy (&frame);
    }
    for (int vector_nbr = 0; vector_nbr < count; vector_nbr++) {
        ds_proto_destroy (&vectors [vector_nbr].message);
        if (strncmp (vectors [vector_nbr].name, "event-", 6) == 0)
            free ((char *) vectors [vector_nbr].name);
    }
    printf ("vectors: %d %s, %d failure%s\n", count,
            write ? "written" : "checked", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
