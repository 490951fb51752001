/*  =========================================================================
    docusnap-gateway - the HTTP API
    =========================================================================
*/

#include "ds_gateway_classes.h"

int
main (int argc, char **argv)
{
    return ds_service_main (argc, argv, "docusnap-gateway", DS_ROLE_GATEWAY,
                            "Accepts document tasks over HTTP, stores them "
                            "and answers status queries.",
                            ds_gateway);
}
