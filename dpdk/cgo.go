package dpdk

/*
#cgo pkg-config: libdpdk
#cgo CFLAGS: -O3 -DALLOW_EXPERIMENTAL_API -Wno-deprecated-declarations
#include <stdlib.h>
#include <rte_errno.h>
#include "fc.h"
*/
import "C"
