/*  =========================================================================
    docusnap-sink - applies worker events to the task store
    =========================================================================
*/

#include "ds_sink_classes.h"

int
main (int argc, char **argv)
{
    return ds_service_main (argc, argv, "docusnap-sink", DS_ROLE_SINK,
                            "Collects worker events (started, result, failed) "
                            "and writes them to SQLite.",
                            ds_sink);
}
