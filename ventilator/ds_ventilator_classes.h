/*  =========================================================================
    ds_ventilator_classes.h - private header of the ventilator service
    =========================================================================
*/

#ifndef DS_VENTILATOR_CLASSES_H_INCLUDED
#define DS_VENTILATOR_CLASSES_H_INCLUDED

#include "docusnap.h"
#include "ds_ventilator.h"

#endif
