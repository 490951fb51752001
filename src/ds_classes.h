/*  =========================================================================
    ds_classes.h - private header of libdocusnap
    =========================================================================
*/

#ifndef DS_CLASSES_H_INCLUDED
#define DS_CLASSES_H_INCLUDED

#include "docusnap.h"

#endif
