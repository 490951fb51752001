/*  =========================================================================
    docusnap-ventilator - the task queue
    =========================================================================
*/

#include "ds_ventilator_classes.h"

int
main (int argc, char **argv)
{
    return ds_service_main (argc, argv, "docusnap-ventilator",
                            DS_ROLE_VENTILATOR,
                            "Queues tasks by priority and dispatches them "
                            "to workers as they have room.",
                            ds_ventilator);
}
