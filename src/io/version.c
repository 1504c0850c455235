/*
 * version.c — ct_version(): the version CMake's project(VERSION) passes in as CT_VERSION_STRING.
 */
#include "ctrain.h"

#ifndef CT_VERSION_STRING
#define CT_VERSION_STRING "0.0.0" /* built outside CMake */
#endif

const char *ct_version(void) { return CT_VERSION_STRING; }
