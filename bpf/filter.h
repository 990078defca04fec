/* Process selection maps shared by all probes (kernel/user ABI). */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ZT_MAX_TRACED_TGIDS 8192
#define ZT_MAX_TRACED_COMMS 64
#define ZT_COMM_LEN 16

struct zt_comm {
  char name[ZT_COMM_LEN];
};
