/*  =========================================================================
    docusnap-worker - OCR and extraction
    =========================================================================
*/

#include "ds_worker_classes.h"

int
main (int argc, char **argv)
{
    //  OpenMP reads OMP_THREAD_LIMIT when libgomp loads, before main, so
    //  the limit is set and the program started again. One engine per
    //  core, each single-threaded, is several times faster on a busy host.
    if (!getenv ("OMP_THREAD_LIMIT")) {
        setenv ("OMP_THREAD_LIMIT", "1", 1);
        execv ("/proc/self/exe", argv);
        fprintf (stderr,
                 "docusnap-worker: could not restart with "
                 "OMP_THREAD_LIMIT=1 (%s); OCR will be slower\n",
                 strerror (errno));
    }
    curl_global_init (CURL_GLOBAL_DEFAULT);
    int rc = ds_service_main (argc, argv, "docusnap-worker", DS_ROLE_WORKER,
                              "Reads document images with tesseract and "
                              "extracts structured JSON.",
                              ds_worker);
    curl_global_cleanup ();
    return rc;
}
