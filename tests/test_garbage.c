/*  =========================================================================
    test_garbage - garbage frames on every bound socket: random bytes,
    truncated msgpack, wrong types, huge declared lengths, an unknown
    version, multi-frame messages. Each is rejected and logged, and the
    services keep serving.
    =========================================================================
*/

#include "testutil.h"

#define RANDOM_FRAMES 200

//  Send every kind of garbage on a socket connected to endpoint
static void
s_garbage (int type, const char *endpoint)
{
    zsock_t *sock = zsock_new (type);
    TH_CHECK (zsock_connect (sock, "%s", endpoint) == 0, "connect %s",
              endpoint);
    const char *frames [] = {
        "",                                    //  empty
        "hello",                               //  not msgpack
        "\x95\x01\x01",                        //  truncated array
        "\xdd\xff\xff\xff\xff",                //  array of 4 G items
        "\xdb\x7f\xff\xff\xff",                //  str of 2 GB
        "\x93\x02\x01\xa1x",                   //  unknown version
        "\x93\x01\x63\xa1x",                   //  unknown type
        "\x95\x01\x01\x05\xa1y\x01",           //  wrong field type
        "\x9a\x01\x03\xa1x\x09\xa1w\x01\x00",  //  event kind 9, truncated
        "\x91\x91\x91\x91\x91\x91\x91\x01",    //  too deep
    };
    for (size_t frame_nbr = 0;
         frame_nbr < sizeof (frames) / sizeof (frames [0]); frame_nbr++) {
        zframe_t *frame =
            zframe_new (frames [frame_nbr], strlen (frames [frame_nbr]));
        zframe_send (&frame, sock, 0);
    }
    //  Random bytes, some starting like a real message
    for (int frame_nbr = 0; frame_nbr < RANDOM_FRAMES; frame_nbr++) {
        byte data [64];
        size_t size = 1 + (size_t) randof (sizeof (data));
        for (size_t byte_nbr = 0; byte_nbr < size; byte_nbr++)
            data [byte_nbr] = (byte) randof (256);
        if (frame_nbr % 2 && size > 2) {
            data [0] = 0x95;
            data [1] = 0x01;
        }
        zframe_t *frame = zframe_new (data, size);
        zframe_send (&frame, sock, 0);
    }
    //  A multi-frame message
    zstr_sendm (sock, "two");
    zstr_send (sock, "frames");
    zsock_set_linger (sock, 2000);
    zsock_destroy (&sock);
}

int
main (void)
{
    th_harness_t *harness = th_harness_new ("garbage", 1, NULL);
    ds_launcher_t *launcher = th_harness_launcher (harness);
    s_garbage (ZMQ_PUSH, ds_launcher_endpoint (launcher, "queue"));
    s_garbage (ZMQ_PUSH, ds_launcher_endpoint (launcher, "events"));
    s_garbage (ZMQ_DEALER, ds_launcher_endpoint (launcher, "front"));

    //  The pipeline still serves, end to end
    char *task_id = th_submit (harness, "form_filling",
                               "{\"form\": {\"fields\": [\"Name\"]}, "
                               "\"file_lib\": {\"documents\": [{\"id\": "
                               "\"d\", \"kv\": {\"Name\": \"Ada\"}}]}}");
    json_t *status = th_wait_completed (harness, task_id, 30000);
    json_decref (status);
    zstr_free (&task_id);
    TH_CHECK (th_harness_alive (harness), "every service survived");
    //  Each receiver logged what it rejected (the garbage and the task came
    //  on different connections: a receiver may read the task first)
    const char *names [] = {"ventilator", "sink", "gateway", NULL};
    for (const char **name = names; *name; name++)
        TH_CHECK (th_wait_file_contains (ds_launcher_log (launcher, *name),
                                         "BAD-FRAME", 10000),
                  "%s logged its rejections", *name);
    th_harness_destroy (&harness);
    printf ("test_garbage: OK\n");
    return 0;
}
