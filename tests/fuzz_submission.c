/*  =========================================================================
    fuzz_submission - fuzz target: the HTTP request body parser

    Feeds the bytes to ds_submission as a JSON body, for each task type.
    Built as a libFuzzer target with clang (-DDS_FUZZ=ON), and replayed
    over tests/corpus/submission/ by the ctest test fuzz.submission.
    =========================================================================
*/

#include "docusnap.h"
#include "../gateway/ds_submission.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static bool quiet = false;
    if (!quiet) {
        ds_image_quiet ();
        quiet = true;
    }
    const char *types [] = {"document", "form", "form_filling"};
    ds_limits_t limits = {4, 1024 * 1024, 4000000};
    for (int type_nbr = 0; type_nbr < 3; type_nbr++) {
        ds_submission_t *submission =
            ds_submission_new (types [type_nbr], &limits);
        int rc =
            ds_submission_parse_json (submission, (const char *) data, size);
        if (rc == 0)
            rc = ds_submission_check (submission);
        //  A rejection always has a status, a code and a message
        if (rc)
            assert (ds_submission_status (submission) >= 400
                    && *ds_submission_code (submission)
                    && *ds_submission_message (submission));
        else
            assert (ds_submission_image_count (submission) <= 4);
        ds_submission_destroy (&submission);
    }
    //  And as multipart fields
    ds_submission_t *submission = ds_submission_new ("form_filling", &limits);
    ds_submission_set_field (submission, "form", (const char *) data, size);
    ds_submission_set_field (submission, "priority", (const char *) data, size);
    ds_submission_add_image (submission, data, size);
    ds_submission_destroy (&submission);
    return 0;
}
