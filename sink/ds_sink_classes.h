/*  =========================================================================
    ds_sink_classes.h - private header of the sink service
    =========================================================================
*/

#ifndef DS_SINK_CLASSES_H_INCLUDED
#define DS_SINK_CLASSES_H_INCLUDED

#include "docusnap.h"
#include "ds_sink.h"

#endif
