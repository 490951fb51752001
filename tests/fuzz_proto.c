/*  =========================================================================
    fuzz_proto - fuzz target: the msgpack decoder of every message

    Built as a libFuzzer target with clang (-DDS_FUZZ=ON), and with
    fuzz_replay.c as the ctest test fuzz.proto that replays
    tests/corpus/proto/. Any crash, sanitizer report or broken invariant
    is a bug.
    =========================================================================
*/

#include "docusnap.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    ds_proto_t *message = ds_proto_new (0);
    if (ds_proto_decode (message, data, size) == 0) {
        //  What decodes must encode again and decode to the same thing
        assert (ds_proto_type (message) >= DS_PROTO_QUEUE
                && ds_proto_type (message) <= DS_PROTO_CANCEL);
        zframe_t *frame = ds_proto_encode (message);
        ds_proto_t *copy = ds_proto_new (0);
        assert (ds_proto_decode (copy, zframe_data (frame), zframe_size (frame))
                == 0);
        assert (streq (ds_proto_task_id (copy), ds_proto_task_id (message)));
        assert (
            streq (ds_proto_request_id (copy), ds_proto_request_id (message)));
        assert (ds_proto_images (copy) == ds_proto_images (message));
        ds_proto_destroy (&copy);
        zframe_destroy (&frame);
    }
    else
        assert (*ds_proto_reason (message));
    ds_proto_destroy (&message);
    return 0;
}
