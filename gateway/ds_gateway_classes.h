/*  =========================================================================
    ds_gateway_classes.h - private header of the gateway service
    =========================================================================
*/

#ifndef DS_GATEWAY_CLASSES_H_INCLUDED
#define DS_GATEWAY_CLASSES_H_INCLUDED

#include "docusnap.h"
#include <microhttpd.h>
#include <leptonica/allheaders.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>

#include "ds_submission.h"
#include "ds_gateway.h"

#endif
